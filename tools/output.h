// Output helpers for the CLI: aligned text tables, JSON, sizes and times.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata::cli {

// Prints rows as left-aligned columns separated by two spaces; the first row is the header.
void PrintTable(const std::vector<std::vector<std::string>>& rows);
// Pretty JSON on stdout, newline-terminated.
void PrintJson(const nlohmann::json& value);
// "2026-11-29T16:03:44Z"
std::string FormatTime(int64_t unix_seconds);
// First 12 characters of a generated id, as `docker ps` shows; other names whole.
std::string ShortId(const std::string& id);

}  // namespace strata::cli
