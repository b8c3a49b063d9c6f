// Result<T> and Error: every fallible function in strata returns one of these.
//
// An Error carries an errno value (callers branch on it: EBUSY, ENOENT, EOPNOTSUPP, ENOSPC, ...)
// and a chain of context strings, outermost first, so the message reads outward:
//   vol create "db": activate thin device 17: DM_TABLE_LOAD strata-pool-thin-17: Device or resource busy
// Library code returns errors and never logs them; the CLI prints each error once.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace strata {

class [[nodiscard]] Error {
 public:
  // `message` is the innermost text, used as is (no strerror appended).
  Error(int code, std::string message) : code_(code), message_(std::move(message)) {}

  // An error from a failed syscall: "<what>: <strerror(code)>".
  static Error FromErrno(int code, std::string_view what);
  // Same, reading errno now. Call it right after the failing syscall.
  static Error FromErrno(std::string_view what) { return FromErrno(errno, what); }

  int code() const { return code_; }
  const std::string& message() const { return message_; }

  // Adds outer context: Wrap("layer rm abc") turns "x: busy" into "layer rm abc: x: busy".
  Error Wrap(std::string_view context) && {
    message_ = std::string(context) + ": " + message_;
    return std::move(*this);
  }
  Error Wrap(std::string_view context) const& { return Error(*this).Wrap(context) ; }

 private:
  int code_;
  std::string message_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  template <class U>
    requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::decay_t<U>, T> &&
             !std::is_same_v<std::decay_t<U>, Error> && !std::is_same_v<std::decay_t<U>, Result>)
  Result(U&& value) : v_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

  // Adds context to an error result; a value passes through.
  Result Wrap(std::string_view context) && {
    if (ok()) return std::move(*this);
    return std::move(*this).error().Wrap(context);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), has_error_(true) {}  // NOLINT

  bool ok() const { return !has_error_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

  Result Wrap(std::string_view context) && {
    if (ok()) return {};
    return std::move(error_).Wrap(context);
  }

 private:
  Error error_{0, ""};
  bool has_error_ = false;
};

using Status = Result<void>;

inline Status Ok() { return {}; }

}  // namespace strata

#define STRATA_CONCAT_INNER_(a, b) a##b
#define STRATA_CONCAT_(a, b) STRATA_CONCAT_INNER_(a, b)

// STRATA_TRY(expr): evaluates a Result; on error returns it from the enclosing function.
#define STRATA_TRY(expr)                                          \
  do {                                                            \
    auto&& strata_try_r_ = (expr);                                \
    if (!strata_try_r_.ok()) return std::move(strata_try_r_).error(); \
  } while (0)

// STRATA_TRY_CTX(expr, context): as STRATA_TRY, wrapping the error with `context`.
#define STRATA_TRY_CTX(expr, context)                                              \
  do {                                                                             \
    auto&& strata_try_r_ = (expr);                                                 \
    if (!strata_try_r_.ok()) return std::move(strata_try_r_).error().Wrap(context); \
  } while (0)

// STRATA_ASSIGN_OR_RETURN(auto x, expr): declares x from a Result's value, or returns its error.
#define STRATA_ASSIGN_OR_RETURN(decl, expr) \
  STRATA_ASSIGN_OR_RETURN_IMPL_(STRATA_CONCAT_(strata_aor_, __LINE__), decl, expr)
#define STRATA_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).error();        \
  decl = std::move(tmp).value()

// STRATA_ASSIGN_OR_RETURN_CTX(auto x, expr, context): as above, wrapping the error.
#define STRATA_ASSIGN_OR_RETURN_CTX(decl, expr, context) \
  STRATA_ASSIGN_OR_RETURN_CTX_IMPL_(STRATA_CONCAT_(strata_aor_, __LINE__), decl, expr, context)
#define STRATA_ASSIGN_OR_RETURN_CTX_IMPL_(tmp, decl, expr, context) \
  auto tmp = (expr);                                                \
  if (!tmp.ok()) return std::move(tmp).error().Wrap(context);       \
  decl = std::move(tmp).value()
