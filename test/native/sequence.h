// A deterministic message sequence shared by the C++ tests, the addon and lib/testing.ts, so that
// any producer (C++ or TS) can be checked by any consumer: message i has a size and bytes that
// depend only on (i, seed, min, max).
#pragma once

#include <cstdint>
#include <cstring>

namespace ringwire::sequence {

inline uint32_t Mix(uint32_t i, uint32_t seed) {
  uint32_t x = i * 2654435761u ^ seed;
  x ^= x >> 15;
  x *= 2246822519u;
  x ^= x >> 13;
  return x;
}

inline uint32_t Size(uint32_t i, uint32_t seed, uint32_t min, uint32_t max) {
  // 64-bit span: min 0, max 2^32 - 1 would make a 32-bit one 0 (and JS computes it exactly).
  return min + uint32_t(Mix(i, seed) % (uint64_t(max) - min + 1));
}

inline uint8_t Byte(uint32_t i, uint32_t k) { return uint8_t((i * 31u + k) & 0xffu); }

// Writes message i (the first four bytes carry i when there is room).
inline void Fill(uint8_t* out, uint32_t size, uint32_t i) {
  uint32_t k = 0;
  if (size >= 4) {
    std::memcpy(out, &i, 4);
    k = 4;
  }
  for (; k < size; ++k) out[k] = Byte(i, k);
}

// Whether `data` is message i.
inline bool Check(const uint8_t* data, uint32_t size, uint32_t i, uint32_t seed, uint32_t min, uint32_t max) {
  if (size != Size(i, seed, min, max)) return false;
  uint32_t k = 0;
  if (size >= 4) {
    uint32_t got;
    std::memcpy(&got, data, 4);
    if (got != i) return false;
    k = 4;
  }
  for (; k < size; ++k) {
    if (data[k] != Byte(i, k)) return false;
  }
  return true;
}

}  // namespace ringwire::sequence
