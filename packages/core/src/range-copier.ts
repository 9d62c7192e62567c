// Copying short byte ranges between buffers without making a view of either. Layer: core.
// Tuples are tens of bytes: `target.set(source.subarray(start, end), at)` makes an object per
// copy, and a per-byte loop is slow wherever a call site meets both Buffers and Uint8Arrays.
// A RangeCopier moves four bytes at a time through DataViews (little-endian both ways), keeping
// one of the buffer it last copied from (sources are views of few buffers: a packet, a file
// chunk, an arena chunk).

/** Ranges up to this length go through DataViews; longer ones through one set(). */
const SHORT_RANGE_MAX_BYTES = 256;

export class RangeCopier {
  private source: ArrayBufferLike | undefined;
  private sourceView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

  /**
   * Copies bytes[start, end) to `target` at `at`. `targetView` is a DataView of `target`'s own
   * bytes (offset 0 of the view is target[0]).
   */
  copy(
    bytes: Uint8Array,
    start: number,
    end: number,
    target: Uint8Array,
    targetView: DataView<ArrayBufferLike>,
    at: number,
  ): void {
    const length = end - start;
    if (length > SHORT_RANGE_MAX_BYTES) {
      target.set(bytes.subarray(start, end), at);
      return;
    }
    const memory = bytes.buffer;
    if (memory !== this.source) {
      this.source = memory;
      this.sourceView = new DataView(memory);
    }
    const from = this.sourceView;
    const s = bytes.byteOffset + start;
    let i = 0;
    // Little-endian on both sides: the bytes land as they were, and on x86 and ARM neither
    // access swaps them (big-endian, the default, costs a swap each way).
    for (; i + 4 <= length; i += 4) targetView.setUint32(at + i, from.getUint32(s + i, true), true);
    for (; i < length; i++) targetView.setUint8(at + i, from.getUint8(s + i));
  }
}
