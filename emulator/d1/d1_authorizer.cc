#include "emulator/d1/d1_authorizer.h"

#include <sqlite3.h>
#include <strings.h>

#include <string_view>

namespace cfemu::emulator {

namespace {

// workerd's list of allowed functions, without load_extension (extension loading is also off
// at the connection and the VFS).
constexpr std::string_view kAllowedFunctions[] = {
    // Core functions.
    "abs",
    "changes",
    "char",
    "coalesce",
    "format",
    "glob",
    "hex",
    "ifnull",
    "iif",
    "instr",
    "last_insert_rowid",
    "length",
    "like",
    "likelihood",
    "likely",
    "lower",
    "ltrim",
    "max",
    "min",
    "nullif",
    "printf",
    "quote",
    "random",
    "randomblob",
    "replace",
    "round",
    "rtrim",
    "sign",
    "soundex",
    "substr",
    "substring",
    "total_changes",
    "trim",
    "typeof",
    "unhex",
    "unicode",
    "unlikely",
    "upper",
    "zeroblob",
    // Date and time.
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "current_date",
    "current_time",
    "current_timestamp",
    // Aggregates.
    "avg",
    "count",
    "group_concat",
    "sum",
    "total",
    // Window functions.
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // Maths.
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "ceil",
    "ceiling",
    "cos",
    "cosh",
    "degrees",
    "exp",
    "floor",
    "ln",
    "log",
    "log10",
    "log2",
    "mod",
    "pi",
    "pow",
    "power",
    "radians",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
    // JSON.
    "json",
    "json_array",
    "json_array_length",
    "json_extract",
    "->",
    "->>",
    "json_insert",
    "json_object",
    "json_patch",
    "json_remove",
    "json_replace",
    "json_set",
    "json_type",
    "json_valid",
    "json_quote",
    "json_group_array",
    "json_group_object",
    "json_each",
    "json_tree",
    // Full-text search (fts5).
    "match",
    "highlight",
    "bm25",
    "snippet",
    // Internal functions of ALTER TABLE.
    "sqlite_rename_column",
    "sqlite_rename_table",
    "sqlite_rename_test",
    "sqlite_drop_column",
    "sqlite_rename_quotefix",
};

enum class PragmaArg : std::uint8_t { kNone, kOptionalName, kName, kBoolean };

struct PragmaRule {
  std::string_view name;
  PragmaArg arg;
};

// D1's list of supported pragmas (sql-statements page), plus data_version as workerd has it.
constexpr PragmaRule kAllowedPragmas[] = {
    {"table_list", PragmaArg::kOptionalName},
    {"table_info", PragmaArg::kName},
    {"table_xinfo", PragmaArg::kName},
    {"index_list", PragmaArg::kName},
    {"index_info", PragmaArg::kName},
    {"index_xinfo", PragmaArg::kName},
    {"foreign_key_list", PragmaArg::kName},
    {"foreign_key_check", PragmaArg::kOptionalName},
    {"quick_check", PragmaArg::kOptionalName},
    {"optimize", PragmaArg::kNone},
    {"data_version", PragmaArg::kNone},
    {"case_sensitive_like", PragmaArg::kBoolean},
    {"ignore_check_constraints", PragmaArg::kBoolean},
    {"legacy_alter_table", PragmaArg::kBoolean},
    {"recursive_triggers", PragmaArg::kBoolean},
    {"reverse_unordered_selects", PragmaArg::kBoolean},
    {"foreign_keys", PragmaArg::kBoolean},
    {"defer_foreign_keys", PragmaArg::kBoolean},
};

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool IsBooleanText(std::string_view value) {
  if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') &&
      value.back() == value.front()) {
    value = value.substr(1, value.size() - 2);
  }
  for (std::string_view word : {"true", "false", "yes", "no", "on", "off", "1", "0"}) {
    if (EqualsNoCase(value, word)) return true;
  }
  return false;
}

bool FunctionAllowed(const char* name) {
  if (name == nullptr) return false;
  for (std::string_view allowed : kAllowedFunctions) {
    if (EqualsNoCase(allowed, name)) return true;
  }
  return false;
}

}  // namespace

bool D1AllowedName(const char* name) {
  return name == nullptr || strncasecmp(name, "_cf_", 4) != 0;
}

void D1Authorizer::Install(sqlite3* db) {
  sqlite3_set_authorizer(
      db,
      [](void* self, int action, const char* p1, const char* p2, const char* database,
         const char* trigger) {
        return static_cast<D1Authorizer*>(self)->Authorize(action, p1, p2, database, trigger);
      },
      this);
}

namespace {

// The pragma part of the policy: SQLITE_OK when allowed. Sets *boolean_set when a boolean
// pragma receives a value.
bool PragmaAllowed(const char* name, const char* arg, bool* boolean_set) {
  if (name == nullptr) return false;
  for (const auto& rule : kAllowedPragmas) {
    if (!EqualsNoCase(rule.name, name)) continue;
    switch (rule.arg) {
      case PragmaArg::kNone:
        return arg == nullptr;
      case PragmaArg::kOptionalName:
        return D1AllowedName(arg);
      case PragmaArg::kName:
        return arg != nullptr && D1AllowedName(arg);
      case PragmaArg::kBoolean:
        if (arg == nullptr) return true;  // Reading the current value.
        *boolean_set = true;
        return IsBooleanText(arg);
    }
  }
  return false;
}

bool ChangesSchema(int action) {
  switch (action) {
    case SQLITE_CREATE_TABLE:
    case SQLITE_DROP_TABLE:
    case SQLITE_CREATE_INDEX:
    case SQLITE_DROP_INDEX:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_CREATE_VIEW:
    case SQLITE_DROP_VIEW:
    case SQLITE_ALTER_TABLE:
    case SQLITE_CREATE_VTABLE:
    case SQLITE_DROP_VTABLE:
      return true;
    default:
      return false;
  }
}

// The policy for untrusted statements in `main`.
bool Allowed(int action, const char* p1, const char* p2, bool* boolean_set) {
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
      return true;
    case SQLITE_CREATE_TABLE:
    case SQLITE_DELETE:
    case SQLITE_DROP_TABLE:
    case SQLITE_INSERT:
    case SQLITE_ANALYZE:
    case SQLITE_CREATE_VIEW:
    case SQLITE_DROP_VIEW:
    case SQLITE_REINDEX:
    case SQLITE_READ:
    case SQLITE_UPDATE:
      return D1AllowedName(p1);
    case SQLITE_ALTER_TABLE:  // p1 is the schema, p2 the table.
      return D1AllowedName(p2);
    case SQLITE_CREATE_INDEX:
    case SQLITE_DROP_INDEX:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_DROP_TRIGGER:
      return D1AllowedName(p1) && D1AllowedName(p2);
    case SQLITE_PRAGMA:
      return PragmaAllowed(p1, p2, boolean_set);
    case SQLITE_FUNCTION:
      return FunctionAllowed(p2);
    case SQLITE_CREATE_VTABLE:
    case SQLITE_DROP_VTABLE:
      return p2 != nullptr && EqualsNoCase(p2, "fts5") && D1AllowedName(p1);
    default:
      // ATTACH, DETACH, temporary objects, COPY and anything unknown.
      return false;
  }
}

}  // namespace

int D1Authorizer::Authorize(int action, const char* p1, const char* p2, const char* database,
                            const char* /*trigger*/) {
  if (database != nullptr && std::string_view(database) != "main") {
    // Only `main` exists for D1; `temp` may be read (its schema table) but not written.
    const bool temp_read = std::string_view(database) == "temp" &&
                           (action == SQLITE_READ || action == SQLITE_UPDATE) && D1AllowedName(p1);
    if (temp_read) return SQLITE_OK;
    last_denial_ = Denial::kOther;
    return SQLITE_DENY;
  }
  if (trusted_) return SQLITE_OK;
  if (action == SQLITE_TRANSACTION || action == SQLITE_SAVEPOINT) {
    last_denial_ = Denial::kTransaction;
    return SQLITE_DENY;
  }
  bool boolean_set = false;
  if (!Allowed(action, p1, p2, &boolean_set)) {
    last_denial_ = Denial::kOther;
    return SQLITE_DENY;
  }
  pragma_set_ = pragma_set_ || boolean_set;
  table_renamed_ = table_renamed_ || action == SQLITE_ALTER_TABLE;
  schema_change_ = schema_change_ || ChangesSchema(action);
  return SQLITE_OK;
}

}  // namespace cfemu::emulator
