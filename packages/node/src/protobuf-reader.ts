// A minimal protobuf wire-format reader: enough for OTLP's ExportTraceServiceRequest. It throws
// on malformed input; the receiver turns that into a 400 answer.

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

const utf8 = new TextDecoder();

export class ProtoReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #position: number;
  readonly #end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#position = start;
    this.#end = end;
  }

  get done(): boolean {
    return this.#position >= this.#end;
  }

  /** The next field's number and wire type. */
  tag(): { field: number; wire: number } {
    const key = this.varint();
    const field = Number(key >> 3n);
    if (field === 0) throw new Error('protobuf: field number 0');
    return { field, wire: Number(key & 7n) };
  }

  /** An unsigned varint of up to 64 bits. */
  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.#take(1);
      result |= BigInt(this.#bytes[byte]! & 0x7f) << shift;
      if ((this.#bytes[byte]! & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new Error('protobuf: varint longer than 10 bytes');
  }

  /** A varint read as a JS number (enums, lengths, bools); int64 values use `int64()`. */
  uint(): number {
    return Number(this.varint());
  }

  /** A varint as a two's-complement int64. */
  int64(): bigint {
    return BigInt.asIntN(64, this.varint());
  }

  fixed64(): bigint {
    return this.#view.getBigUint64(this.#take(8), true);
  }

  double(): number {
    return this.#view.getFloat64(this.#take(8), true);
  }

  bytes(): Uint8Array {
    const length = this.uint();
    const start = this.#take(length);
    return this.#bytes.subarray(start, start + length);
  }

  string(): string {
    return utf8.decode(this.bytes());
  }

  /** A reader over the next length-delimited field (an embedded message). */
  message(): ProtoReader {
    const length = this.uint();
    const start = this.#take(length);
    return new ProtoReader(this.#bytes, start, start + length);
  }

  /** Skips a field whose number is not handled (or whose wire type is unexpected). */
  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_I64) this.#take(8);
    else if (wire === WIRE_LEN) this.#take(this.uint());
    else if (wire === WIRE_I32) this.#take(4);
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }

  /** Advances by `count` bytes and returns where they start; throws past the end. */
  #take(count: number): number {
    const start = this.#position;
    if (!Number.isSafeInteger(count) || count < 0 || start + count > this.#end) {
      throw new Error('protobuf: truncated message');
    }
    this.#position = start + count;
    return start;
  }
}
