// CRC32C (Castagnoli) in TypeScript, slicing-by-16: the same function as cpp/log/format.h Crc32c
// (test/log/format.test.ts compares them with the hardware and table versions). Readers use it to
// check records of up to 256 bytes (longer ones with the hardware CRC, natively), and the segment
// code for headers. The writer does not: it commits every record natively (LogFile.commit), which
// for a 100-byte record measured faster than this CRC in JS on Node 20 and 22, level on Node 24.
//
// Slicing-by-16 does one table load per byte, as slicing-by-8 does, but half the loop steps and
// half the serial dependency on `c` per byte: ~12% faster on a 132-byte record (measured under load).
// Words are read through an Int32Array, so this assumes a little-endian host (x86-64, arm64).

const POLY = 0x82f63b78;
// T[k * 256 + b]: the CRC contribution of byte b followed by k zero bytes.
const T = new Int32Array(16 * 256);
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T[b] = c;
}
for (let b = 0; b < 256; b++) {
  for (let k = 1; k < 16; k++) {
    const prev = T[(k - 1) * 256 + b]!;
    T[k * 256 + b] = (prev >>> 8) ^ T[prev & 255]!;
  }
}

/** CRC32C of u8[start, end), continuing `crc` (0 to start). */
export function crc32c(u8: Uint8Array, start = 0, end = u8.length, crc = 0): number {
  let c = ~crc;
  let i = start;
  // Byte at a time up to 8-alignment of the underlying buffer, then 16 and 8 bytes per step.
  while (i < end && ((u8.byteOffset + i) & 7) !== 0) c = T[(c ^ u8[i++]!) & 255]! ^ (c >>> 8);
  if (end - i >= 8) {
    const i32 = new Int32Array(u8.buffer, u8.byteOffset + i, (end - i) >> 3 << 1);
    c = words(i32, 0, i32.length, c);
    i += i32.length << 2;
  }
  while (i < end) c = T[(c ^ u8[i++]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Continues the (inverted) CRC `c` over the words i32[w, end) (an even count). */
function words(i32: Int32Array, w: number, end: number, c: number): number {
  for (; w + 4 <= end; w += 4) c = sliced16(i32[w]! ^ c, i32[w + 1]!, i32[w + 2]!, i32[w + 3]!);
  if (w < end) c = sliced8(i32[w]! ^ c, i32[w + 1]!);
  return c;
}

function sliced16(a: number, b: number, d: number, e: number): number {
  return (
    T[3840 + (a & 255)]! ^
    T[3584 + ((a >>> 8) & 255)]! ^
    T[3328 + ((a >>> 16) & 255)]! ^
    T[3072 + (a >>> 24)]! ^
    T[2816 + (b & 255)]! ^
    T[2560 + ((b >>> 8) & 255)]! ^
    T[2304 + ((b >>> 16) & 255)]! ^
    T[2048 + (b >>> 24)]! ^
    T[1792 + (d & 255)]! ^
    T[1536 + ((d >>> 8) & 255)]! ^
    T[1280 + ((d >>> 16) & 255)]! ^
    T[1024 + (d >>> 24)]! ^
    T[768 + (e & 255)]! ^
    T[512 + ((e >>> 8) & 255)]! ^
    T[256 + ((e >>> 16) & 255)]! ^
    T[e >>> 24]!
  );
}

function sliced8(a: number, b: number): number {
  return (
    T[1792 + (a & 255)]! ^
    T[1536 + ((a >>> 8) & 255)]! ^
    T[1280 + ((a >>> 16) & 255)]! ^
    T[1024 + (a >>> 24)]! ^
    T[768 + (b & 255)]! ^
    T[512 + ((b >>> 8) & 255)]! ^
    T[256 + ((b >>> 16) & 255)]! ^
    T[b >>> 24]!
  );
}

/**
 * The CRC of the record at byte offset `p` (8-aligned) of `length` bytes (header included): the
 * length as a little-endian u32, then bytes [p + 8, p + length). `i32` and `u8` view the same
 * memory from offset 0 of an 8-aligned mapping.
 */
export function recordCrc(u8: Uint8Array, i32: Int32Array, p: number, length: number): number {
  // The length word: slicing-by-4 over one u32.
  let c = ~0 ^ length;
  c = T[768 + (c & 255)]! ^ T[512 + ((c >>> 8) & 255)]! ^ T[256 + ((c >>> 16) & 255)]! ^ T[c >>> 24]!;
  const end = p + length;
  const whole = (length - 8) & ~7; // bytes after the first 8, in whole 8-byte steps
  c = words(i32, (p + 8) >> 2, (p + 8 + whole) >> 2, c);
  for (let i = p + 8 + whole; i < end; i++) c = T[(c ^ u8[i]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}
