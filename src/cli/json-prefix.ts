/**
 * An incremental JSON syntax check (RFC 8259) on bytes: fed an input piece by piece, it says at each point
 * whether what it has seen is still the beginning of one JSON value, and at the end whether it was exactly
 * one. It builds nothing (memory: one byte per open array or object), so the reader (src/cli/input.ts) can
 * tell a pretty-printed document from NDJSON with a malformed first line as soon as a byte decides it,
 * instead of reading the whole input first. JSON.parse still reads the document itself; this only decides
 * what the input is. Bytes 0x80 and above are accepted inside strings only (JSON.parse of the decoded text
 * accepts any character there; outside strings none is valid).
 */

// What the next byte may be.
const VALUE = 0; // a value (top level, after ":" or after "," in an array)
const VALUE_OR_CLOSE = 1; // a value or "]" (just after "[")
const KEY_OR_CLOSE = 2; // a key or "}" (just after "{")
const KEY = 3; // a key (after "," in an object)
const COLON = 4; // ":" after a key
const AFTER = 5; // "," or the container's closing bracket, after a value inside it
const END = 6; // whitespace only: the top-level value is complete
const STRING = 7;
const ESCAPE = 8; // after "\" in a string
const HEX = 9; // in the four hex digits of "\u"
const LITERAL = 10; // in true, false or null
// Numbers: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
const N_MINUS = 11;
const N_ZERO = 12; // complete
const N_INT = 13; // complete
const N_DOT = 14;
const N_FRAC = 15; // complete
const N_E = 16;
const N_ESIGN = 17;
const N_EXP = 18; // complete
const BAD = 19;

const OBJECT = 1;
const ARRAY = 2;

const TRUE = Buffer.from("true");
const FALSE = Buffer.from("false");
const NULL = Buffer.from("null");

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

export type PrefixStatus = "incomplete" | "complete" | "bad";

export class JsonPrefix {
  private state = VALUE;
  private stack = new Uint8Array(64);
  private depth = 0;
  /** the string being read is a key (a ":" follows it) */
  private inKey = false;
  private hexLeft = 0;
  private literal: Buffer = TRUE;
  private literalAt = 0;

  /** Take bytes [from, to) of `b`; false once the input can no longer be one JSON value. */
  feed(b: Uint8Array, from = 0, to = b.length): boolean {
    let s = this.state;
    for (let i = from; i < to && s !== BAD; i++) {
      const c = b[i]!;
      switch (s) {
        case STRING:
          if (c === 0x22) s = this.inKey ? COLON : this.afterValue();
          else if (c === 0x5c) s = ESCAPE;
          else if (c < 0x20) s = BAD;
          break;
        case ESCAPE:
          if (c === 0x75) {
            s = HEX;
            this.hexLeft = 4;
          } else s = '"\\/bfnrt'.includes(String.fromCharCode(c)) ? STRING : BAD;
          break;
        case HEX:
          if (!isHex(c)) s = BAD;
          else if (--this.hexLeft === 0) s = STRING;
          break;
        case LITERAL:
          if (c !== this.literal[this.literalAt]) s = BAD;
          else if (++this.literalAt === this.literal.length) s = this.afterValue();
          break;
        case N_MINUS:
          s = c === 0x30 ? N_ZERO : isDigit(c) ? N_INT : BAD;
          break;
        case N_DOT:
          s = isDigit(c) ? N_FRAC : BAD;
          break;
        case N_E:
          s = c === 0x2b || c === 0x2d ? N_ESIGN : isDigit(c) ? N_EXP : BAD;
          break;
        case N_ESIGN:
          s = isDigit(c) ? N_EXP : BAD;
          break;
        case N_ZERO:
        case N_INT:
        case N_FRAC:
        case N_EXP:
          if (isDigit(c) && s !== N_ZERO) break;
          if (c === 0x2e && (s === N_ZERO || s === N_INT)) s = N_DOT;
          else if ((c === 0x65 || c === 0x45) && s !== N_EXP) s = N_E;
          else {
            // the number ended just before this byte, which is read in the state after a value
            this.state = this.afterValue();
            this.feed(b, i, i + 1);
            s = this.state;
          }
          break;
        default:
          if (!isSpace(c)) s = this.structural(s, c);
      }
    }
    this.state = s;
    return s !== BAD;
  }

  /** The status of what was fed, taken as the whole input. */
  end(): PrefixStatus {
    const s = this.state;
    if (s === BAD) return "bad";
    if (s === END) return "complete";
    if ((s === N_ZERO || s === N_INT || s === N_FRAC || s === N_EXP) && this.depth === 0) return "complete";
    return "incomplete";
  }

  /** A non-space byte outside strings, numbers and literals, in state s: the next state. */
  private structural(s: number, c: number): number {
    switch (s) {
      case VALUE:
      case VALUE_OR_CLOSE:
        if (c === 0x5d && s === VALUE_OR_CLOSE) return this.close(ARRAY);
        return this.value(c);
      case KEY_OR_CLOSE:
      case KEY:
        if (c === 0x7d && s === KEY_OR_CLOSE) return this.close(OBJECT);
        if (c !== 0x22) return BAD;
        this.inKey = true;
        return STRING;
      case COLON:
        return c === 0x3a ? VALUE : BAD;
      case AFTER: {
        const top = this.stack[this.depth - 1];
        if (c === 0x2c) return top === OBJECT ? KEY : VALUE;
        if (c === 0x7d && top === OBJECT) return this.close(OBJECT);
        if (c === 0x5d && top === ARRAY) return this.close(ARRAY);
        return BAD;
      }
      default:
        return BAD; // END: something after the value
    }
  }

  /** The first byte of a value. */
  private value(c: number): number {
    switch (c) {
      case 0x7b:
        this.open(OBJECT);
        return KEY_OR_CLOSE;
      case 0x5b:
        this.open(ARRAY);
        return VALUE_OR_CLOSE;
      case 0x22:
        this.inKey = false;
        return STRING;
      case 0x2d:
        return N_MINUS;
      case 0x30:
        return N_ZERO;
      case 0x74:
      case 0x66:
      case 0x6e:
        this.literal = c === 0x74 ? TRUE : c === 0x66 ? FALSE : NULL;
        this.literalAt = 1;
        return LITERAL;
      default:
        return isDigit(c) ? N_INT : BAD;
    }
  }

  private open(kind: number): void {
    if (this.depth === this.stack.length) {
      const grown = new Uint8Array(this.depth * 2);
      grown.set(this.stack);
      this.stack = grown;
    }
    this.stack[this.depth++] = kind;
  }

  private close(kind: number): number {
    if (this.stack[this.depth - 1] !== kind) return BAD;
    this.depth--;
    return this.afterValue();
  }

  private afterValue(): number {
    return this.depth === 0 ? END : AFTER;
  }
}
