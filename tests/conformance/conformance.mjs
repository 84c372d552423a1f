// cfemu serve driven by the official Cloudflare API client (the `cloudflare` npm package,
// pinned in package-lock.json), through its baseURL option. Usage: node conformance.mjs URL
// where URL is a `cfemu serve --virtual-time --token conformance` address. Each check prints
// one line; the first failure throws and exits non-zero.
import assert from "node:assert/strict";
import Cloudflare from "cloudflare";

const base = process.argv[2];
const token = "conformance";
const cf = new Cloudflare({ apiToken: token, baseURL: `${base}/client/v4`, maxRetries: 0 });
const account_id = "conformance";

async function check(name, body) {
  await body();
  console.log(`ok - ${name}`);
}

async function advance(ms) {
  const response = await fetch(`${base}/admin/v1/time/advance`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ ms }),
  });
  assert.equal(response.status, 200);
}

const decode = (body) => Buffer.from(body, "base64").toString("utf8");

async function status(promise) {
  try {
    await promise;
    return 200;
  } catch (error) {
    assert.ok(error instanceof Cloudflare.APIError, String(error));
    return error.status;
  }
}

async function queues() {
  let queue;
  await check("queues: create, get, list", async () => {
    queue = await cf.queues.create({ account_id, queue_name: "conformance" });
    assert.equal(queue.queue_name, "conformance");
    assert.equal((await cf.queues.get(queue.queue_id, { account_id })).queue_name, "conformance");
    const names = [];
    for await (const q of cf.queues.list({ account_id })) names.push(q.queue_name);
    assert.ok(names.includes("conformance"), names.join());
  });
  const id = queue.queue_id;
  await check("queues: an http_pull consumer", async () => {
    const consumer = await cf.queues.consumers.create(id, {
      account_id,
      type: "http_pull",
      settings: { batch_size: 10, max_retries: 3, visibility_timeout_ms: 5000 },
    });
    assert.equal(consumer.type, "http_pull");
    const listed = [];
    for await (const c of cf.queues.consumers.list(id, { account_id })) listed.push(c);
    assert.equal(listed.length, 1);
  });
  await check("queues: push and bulk push", async () => {
    await cf.queues.messages.push(id, { account_id, body: { n: 1 } });
    await cf.queues.messages.bulkPush(id, {
      account_id,
      messages: [
        { body: "two", content_type: "text" },
        { body: { n: 3 }, content_type: "json" },
      ],
    });
  });
  let first;
  await check("queues: pull (json base64, text plain)", async () => {
    first = await cf.queues.messages.pull(id, { account_id, batch_size: 10, visibility_timeout_ms: 1000 });
    assert.equal(first.messages.length, 3);
    const bodies = first.messages.map((m) => (m.metadata["CF-Content-Type"] === "text" ? m.body : decode(m.body)));
    assert.deepEqual(bodies.sort(), ['{"n":1}', '{"n":3}', "two"].sort());
    for (const m of first.messages) assert.equal(m.attempts, 1);
  });
  await check("queues: ack and retry by lease id; unknown leases warn", async () => {
    const [a, b] = first.messages;
    const result = await cf.queues.messages.ack(id, {
      account_id,
      acks: [{ lease_id: a.lease_id }, { lease_id: "no-such-lease" }],
      retries: [{ lease_id: b.lease_id, delay_seconds: 0 }],
    });
    assert.equal(result.ackCount, 1);
    assert.equal(result.retryCount, 1);
    assert.ok("no-such-lease" in result.warnings);
    const again = await cf.queues.messages.pull(id, { account_id, batch_size: 10 });
    assert.equal(again.messages.length, 1);
    assert.equal(again.messages[0].id, b.id);
    assert.equal(again.messages[0].attempts, 2);
  });
  await check("queues: visibility timeout redelivers", async () => {
    assert.equal((await cf.queues.messages.pull(id, { account_id, batch_size: 10 })).messages.length, 0);
    await advance(1000);
    const late = await cf.queues.messages.pull(id, { account_id, batch_size: 10 });
    assert.equal(late.messages.length, 1);
    assert.equal(late.messages[0].id, first.messages[2].id);
    assert.equal(late.messages[0].attempts, 2);
  });
  await check("queues: peek without leasing, purge by ref", async () => {
    await cf.queues.messages.push(id, { account_id, body: { n: 4 } });
    const peeked = await cf.queues.messages.peek(id, { account_id, batch_size: 10 });
    assert.ok(peeked.messages.length >= 1);
    const ref = peeked.messages.find((m) => decode(m.body) === '{"n":4}').ref;
    const purged = await cf.queues.messages.purge(id, { account_id, refs: [{ ref }] });
    assert.deepEqual(purged.warnings, {});
    const left = await cf.queues.messages.peek(id, { account_id, batch_size: 10 });
    assert.ok(!left.messages.some((m) => m.ref === ref));
  });
  await check("queues: purge and delete", async () => {
    await cf.queues.purge.start(id, { account_id, delete_messages_permanently: true });
    assert.equal((await cf.queues.getMetrics(id, { account_id })).backlog_count, 0);
    await cf.queues.delete(id, { account_id });
    assert.equal(await status(cf.queues.get(id, { account_id })), 404);
  });
}

async function d1() {
  let db;
  await check("d1: create and list", async () => {
    db = await cf.d1.database.create({ account_id, name: "conformance" });
    const names = [];
    for await (const d of cf.d1.database.list({ account_id })) names.push(d.name);
    assert.ok(names.includes("conformance"));
  });
  const id = db.uuid;
  await check("d1: query with params and several statements", async () => {
    const results = [];
    for await (const r of cf.d1.database.query(id, {
      account_id,
      sql: "CREATE TABLE t(a, b); INSERT INTO t VALUES (?, ?)",
      params: ["1", "x"],
    })) {
      results.push(r);
    }
    assert.equal(results.length, 2);
    assert.equal(results[1].meta.changes, 1);
    const rows = [];
    for await (const r of cf.d1.database.query(id, { account_id, sql: "SELECT a, b FROM t" })) rows.push(r);
    assert.deepEqual(rows[0].results, [{ a: "1", b: "x" }]);
  });
  await check("d1: raw", async () => {
    const raw = [];
    for await (const r of cf.d1.database.raw(id, { account_id, sql: "SELECT a, b FROM t" })) raw.push(r);
    assert.deepEqual(raw[0].results.columns, ["a", "b"]);
    assert.deepEqual(raw[0].results.rows, [["1", "x"]]);
  });
  await check("d1: a SQL error is an APIError 400", async () => {
    assert.equal(await status(cf.d1.database.query(id, { account_id, sql: "SELECT * FROM nope" })), 400);
  });
  await check("d1: delete", async () => {
    await cf.d1.database.delete(id, { account_id });
    assert.equal(await status(cf.d1.database.get(id, { account_id })), 404);
  });
}

async function kv() {
  let ns;
  await check("kv: namespaces", async () => {
    ns = await cf.kv.namespaces.create({ account_id, title: "conformance" });
    const titles = [];
    for await (const n of cf.kv.namespaces.list({ account_id })) titles.push(n.title);
    assert.ok(titles.includes("conformance"));
  });
  const namespace_id = ns.id;
  await check("kv: put (multipart with metadata) and get", async () => {
    // Metadata as the JSON part the API documents: given an object, the client would send it
    // as form fields (metadata[v]=1), which carry no JSON types.
    await cf.kv.namespaces.values.update("user/1", {
      account_id,
      namespace_id,
      value: "hello",
      metadata: JSON.stringify({ v: 1 }),
    });
    const response = await cf.kv.namespaces.values.get("user/1", { account_id, namespace_id });
    assert.equal(await response.text(), "hello");
    assert.deepEqual(await cf.kv.namespaces.metadata.get("user/1", { account_id, namespace_id }), { v: 1 });
  });
  await check("kv: keys list with prefix and cursor", async () => {
    for (const k of ["user/2", "user/3", "other"]) {
      await cf.kv.namespaces.values.update(k, { account_id, namespace_id, value: k });
    }
    const names = [];
    for await (const key of cf.kv.namespaces.keys.list(namespace_id, { account_id, prefix: "user/", limit: 10 })) {
      names.push(key.name);
    }
    assert.deepEqual(names, ["user/1", "user/2", "user/3"]);
  });
  await check("kv: bulk update, get, delete", async () => {
    const put = await cf.kv.namespaces.keys.bulkUpdate(namespace_id, {
      account_id,
      body: [{ key: "b1", value: "1" }, { key: "b2", value: Buffer.from("2").toString("base64"), base64: true }],
    });
    assert.equal(put.successful_key_count, 2);
    const got = await cf.kv.namespaces.keys.bulkGet(namespace_id, { account_id, keys: ["b1", "b2", "missing"] });
    assert.deepEqual(got.values, { b1: "1", b2: "2", missing: null });
    const deleted = await cf.kv.namespaces.keys.bulkDelete(namespace_id, { account_id, body: ["b1", "b2"] });
    assert.equal(deleted.successful_key_count, 2);
  });
  await check("kv: expiration_ttl expires on virtual time", async () => {
    await cf.kv.namespaces.values.update("ttl", { account_id, namespace_id, value: "v", expiration_ttl: 60 });
    await advance(60_000);
    assert.equal(await status(cf.kv.namespaces.values.get("ttl", { account_id, namespace_id })), 404);
  });
  await check("kv: delete the namespace", async () => {
    await cf.kv.namespaces.delete(namespace_id, { account_id });
    assert.equal(await status(cf.kv.namespaces.get(namespace_id, { account_id })), 404);
  });
}

await check("auth: a wrong token is a 403", async () => {
  const wrong = new Cloudflare({ apiToken: "wrong", baseURL: `${base}/client/v4`, maxRetries: 0 });
  assert.equal(await status(wrong.queues.list({ account_id })), 403);
});
await queues();
await d1();
await kv();
