#!/usr/bin/env bash
# Builds the C++ tests (test/native) under ThreadSanitizer and under AddressSanitizer +
# UndefinedBehaviorSanitizer, and runs them: `npm run test:sanitizers`.
# With gcc the runtimes come from Debian packages libtsan2, libasan8 and libubsan1 (gcc 12).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cmake ctest; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "sanitizers: $tool not found; install cmake (Debian/Ubuntu: apt-get install cmake)" >&2
    exit 1
  fi
done
CXX="${CXX:-c++}"
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "sanitizers: no C++ compiler ($CXX); install g++ (Debian/Ubuntu: apt-get install g++)" >&2
  exit 1
fi

# Whether the compiler can link a program with -fsanitize=$1; if not, name the runtime to install.
check_runtime() {
  local flags="$1" pkgs="$2" dir missing=() pkg
  dir="$(mktemp -d)"
  printf 'int main() { return 0; }\n' >"$dir/t.cc"
  if ! "$CXX" -fsanitize="$flags" "$dir/t.cc" -o "$dir/t" >"$dir/log" 2>&1; then
    echo "sanitizers: $CXX cannot link -fsanitize=$flags:" >&2
    sed 's/^/  /' "$dir/log" >&2
    if command -v dpkg >/dev/null 2>&1; then
      for pkg in $pkgs; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
      done
    fi
    if [ ${#missing[@]} -gt 0 ]; then
      echo "  missing sanitizer runtime: apt-get install ${missing[*]}" >&2
    else
      echo "  gcc 12 on Debian/Ubuntu needs: apt-get install $pkgs" >&2
    fi
    rm -rf "$dir"
    exit 1
  fi
  rm -rf "$dir"
}
check_runtime thread libtsan2
check_runtime address,undefined "libasan8 libubsan1"

# gcc 12's TSan runtime fails on kernels with more random mmap bits than it expects ("unexpected
# memory mapping", "FATAL: ThreadSanitizer: ..."); running the TSan tests without address
# randomisation (setarch -R, when the system allows it) avoids that.
no_aslr=()
if command -v setarch >/dev/null 2>&1 && setarch "$(uname -m)" -R true >/dev/null 2>&1; then
  no_aslr=(setarch "$(uname -m)" -R)
fi

# build/ is shared with cmake-js, whose clean step removes it whole; RINGWIRE_BUILD_ROOT moves ours.
build_root="${RINGWIRE_BUILD_ROOT:-build}"

# build_and_test <dir> <cxx flags> <run prefix: aslr|no-aslr> [<VAR=value for the tests>...]
build_and_test() {
  local dir="$1" flags="$2" mode="$3" prefix=()
  shift 3
  [ "$mode" = no-aslr ] && prefix=("${no_aslr[@]}")
  echo "== $dir: $flags${prefix[*]:+ (tests run under ${prefix[*]})}"
  cmake -S test/native -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" >/dev/null
  cmake --build "$dir" -j2
  env "$@" "${prefix[@]}" ctest --test-dir "$dir" --output-on-failure
}

# TSan is far slower (the stress test ~40x here): fewer stress messages and fuzz iterations.
build_and_test "$build_root/native-tsan" "-fsanitize=thread -fno-omit-frame-pointer" no-aslr \
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
  RINGWIRE_STRESS_MESSAGES="${RINGWIRE_TSAN_STRESS_MESSAGES:-1000000}" \
  RINGWIRE_FUZZ_ITERATIONS="${RINGWIRE_TSAN_FUZZ_ITERATIONS:-5000}"

build_and_test "$build_root/native-asan" "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" aslr \
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  RINGWIRE_STRESS_MESSAGES="${RINGWIRE_ASAN_STRESS_MESSAGES:-10000000}"

echo "sanitizers: TSan and ASan+UBSan builds passed"
