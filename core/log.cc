#include "core/log.h"

#include <fcntl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include "core/unique_fd.h"

namespace strata {
namespace {

struct LevelName {
  std::string_view name;
  spdlog::level::level_enum level;
};
constexpr std::array<LevelName, 6> kLevels = {{{"trace", spdlog::level::trace},
                                               {"debug", spdlog::level::debug},
                                               {"info", spdlog::level::info},
                                               {"warn", spdlog::level::warn},
                                               {"error", spdlog::level::err},
                                               {"off", spdlog::level::off}}};

// Opens (and creates) the file first so a failure carries a real errno; spdlog's own exception
// only has text.
Status CheckWritable(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd) return Error::FromErrno("open log file " + path);
  return Ok();
}

}  // namespace

Result<spdlog::level::level_enum> ParseLogLevel(std::string_view level) {
  if (level.empty()) return kDefaultLogLevel;
  for (const LevelName& l : kLevels) {
    if (l.name == level) return l.level;
  }
  std::string valid;
  for (const LevelName& l : kLevels) valid += (valid.empty() ? "" : ", ") + std::string(l.name);
  return Error(EINVAL,
               "log level \"" + std::string(level) + "\": unknown (expected one of " + valid + ")");
}

Status InitLogging(std::string_view level, const std::string& log_file) {
  STRATA_ASSIGN_OR_RETURN(spdlog::level::level_enum parsed, ParseLogLevel(level));
  std::vector<spdlog::sink_ptr> sinks;
  try {
    auto err_sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    err_sink->set_pattern("strata: %^%l%$: %v");
    sinks.push_back(std::move(err_sink));
    if (!log_file.empty()) {
      STRATA_TRY(CheckWritable(log_file));
      auto file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file, false);
      file_sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %P %l: %v");
      sinks.push_back(std::move(file_sink));
    }
    auto logger = std::make_shared<spdlog::logger>("strata", sinks.begin(), sinks.end());
    logger->set_level(parsed);
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
  } catch (const std::exception& e) {  // spdlog reports sink failures by throwing
    return Error(EIO, std::string("set up logging: ") + e.what());
  }
  return Ok();
}

}  // namespace strata
