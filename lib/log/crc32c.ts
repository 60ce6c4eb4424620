// CRC32C (Castagnoli) in TypeScript, slicing-by-8: the same function as cpp/log/format.h Crc32c
// (test/log/format.test.ts compares them with the hardware and table versions). The writer uses it
// for single appends of records up to 256 bytes: below that, a Node-API call to the hardware CRC
// costs more than computing it here (~1 ns/byte); longer records and whole batches are CRC'd
// natively (LogFile.commit). Readers use it to check records.
//
// Words are read through an Int32Array, so this assumes a little-endian host (x86-64, arm64).

const POLY = 0x82f63b78;
// T[k * 256 + b]: the CRC contribution of byte b followed by k zero bytes.
const T = new Int32Array(8 * 256);
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T[b] = c;
}
for (let b = 0; b < 256; b++) {
  for (let k = 1; k < 8; k++) {
    const prev = T[(k - 1) * 256 + b]!;
    T[k * 256 + b] = (prev >>> 8) ^ T[prev & 255]!;
  }
}

/** CRC32C of u8[start, end), continuing `crc` (0 to start). */
export function crc32c(u8: Uint8Array, start = 0, end = u8.length, crc = 0): number {
  let c = ~crc;
  let i = start;
  // Byte at a time up to 8-alignment of the underlying buffer, then 8 bytes per step.
  while (i < end && ((u8.byteOffset + i) & 7) !== 0) c = T[(c ^ u8[i++]!) & 255]! ^ (c >>> 8);
  if (end - i >= 8) {
    const i32 = new Int32Array(u8.buffer, u8.byteOffset + i, (end - i) >> 3 << 1);
    for (let w = 0; w < i32.length; w += 2) {
      const a = i32[w]! ^ c;
      const b = i32[w + 1]!;
      c = sliced(a, b);
    }
    i += i32.length << 2;
  }
  while (i < end) c = T[(c ^ u8[i++]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}

function sliced(a: number, b: number): number {
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
  let i = p + 8;
  for (let w = i >> 2; i + 8 <= end; i += 8, w += 2) c = sliced(i32[w]! ^ c, i32[w + 1]!);
  for (; i < end; i++) c = T[(c ^ u8[i]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}
