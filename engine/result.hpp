// Result<T> and Error: how every module reports a failure on input or environment.
// Value types; no shared state; safe to move between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace hims {

// Which module's error enum an Error's code belongs to.
enum class ErrorDomain : std::uint8_t { hl7v2, mllp, config, engine, io, fhir, edi, store };

std::string_view to_string(ErrorDomain domain);

// A module opts in by declaring, next to its `enum class`, the two free functions
//   constexpr ErrorDomain error_domain(TheEnum);
//   std::string_view to_string(TheEnum);
template <class E>
concept ErrorCode = std::is_enum_v<E> && requires(E e) {
  { error_domain(e) } -> std::same_as<ErrorDomain>;
  { to_string(e) } -> std::convertible_to<std::string_view>;
};

// A failure: code (module enum), where it happened (segment/field, file:line, ...) and a short
// detail. `where` and `detail` never contain PHI when the error is about a message's content:
// they name positions and sizes, not values.
class Error {
 public:
  template <ErrorCode E>
  Error(E code, std::string where, std::string detail)
      : domain_(error_domain(code)),
        code_(static_cast<int>(code)),
        name_(to_string(code)),
        where_(std::move(where)),
        detail_(std::move(detail)) {}

  ErrorDomain domain() const { return domain_; }
  int raw_code() const { return code_; }
  // The code's short name, e.g. "bad_encoding_characters".
  std::string_view name() const { return name_; }
  const std::string& where() const { return where_; }
  const std::string& detail() const { return detail_; }

  template <ErrorCode E>
  bool is(E code) const {
    return domain_ == error_domain(code) && code_ == static_cast<int>(code);
  }
  template <ErrorCode E>
  E code_as() const {
    return static_cast<E>(code_);
  }

  // "hl7v2.bad_encoding_characters at MSH-2: expected 4 or 5 distinct characters"
  std::string message() const;

 private:
  ErrorDomain domain_;
  int code_;
  std::string_view name_;  // points at a string literal owned by the module
  std::string where_;
  std::string detail_;
};

// Either a T or an Error. [[nodiscard]] so a failure is never dropped silently.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return std::get<1>(error_); }
  Error&& take_error() { return std::get<1>(std::move(error_)); }

 private:
  std::variant<std::monostate, Error> error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace hims
