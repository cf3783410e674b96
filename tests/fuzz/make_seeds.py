#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ that are generated, not hand-written.

Run from the repository root: python3 tests/fuzz/make_seeds.py
  fuzz_gguf/      small valid GGUF files (< 64 KB): every value type, nested arrays, an
                  alignment key, tensors of the ternary types, the tiny model's vocabulary
                  with each pre-tokenizer, and a truncated real file
  fuzz_tokenizer/ texts: ASCII, digits, whitespace runs, contractions, special-token
                  spellings, multi-byte UTF-8, invalid UTF-8 (lenient forms llama.cpp accepts)
The GGUF encoder here is independent of runtime/gguf on purpose (a seed writer that shared
the reader's assumptions would hide them). fuzz_cache_json's seeds come from `tern tune`
(see results/fuzz.md); fuzz_kernel_name's are names from `tern kernels`.
"""
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")

# GGUF value type ids
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
          U64: "<Q", I64: "<q", F64: "<d"}
# ggml type ids and (block elements, block bytes); I2_S: 4 per byte plus a 32-byte tail
F32_T, F16_T, Q8_0_T, Q6_K_T, BF16_T, TQ1_0_T, TQ2_0_T, I2_S_T = 0, 1, 8, 14, 30, 34, 35, 36
BLOCK = {F32_T: (1, 4), F16_T: (1, 2), Q8_0_T: (32, 34), Q6_K_T: (256, 210), BF16_T: (1, 2),
         TQ1_0_T: (256, 54), TQ2_0_T: (256, 66)}


def tensor_bytes(t, dims):
    n = 1
    for d in dims:
        n *= d
    if t == I2_S_T:
        return n // 4 + 32
    be, bb = BLOCK[t]
    return n // be * bb


def enc_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def enc_value(vt, v):
    if vt == STR:
        return enc_str(v)
    if vt == ARR:
        et, items = v
        out = struct.pack("<IQ", et, len(items))
        return out + b"".join(enc_value(et, x) for x in items)
    return struct.pack(SCALAR[vt], v)


def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ggml type, dims, data bytes or None)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, vt, v in kvs:
        out += enc_str(k) + struct.pack("<I", vt) + enc_value(vt, v)
    offset = 0
    placed = []
    for name, t, dims, data in tensors:
        size = tensor_bytes(t, dims)
        out += enc_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", t, offset)
        placed.append((offset, data if data is not None else bytes((i * 7) & 0xFF for i in range(size))))
        offset += (size + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    base = len(out)
    for off, data in placed:
        out += b"\0" * (base + off - len(out)) + data
    return out


def read_kvs(path):
    """The metadata of a GGUF file as [(key, type, value)], enough to re-encode it."""
    with open(path, "rb") as f:
        b = f.read(1 << 20)
    pos = 4

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, b, pos)
        pos += struct.calcsize(fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("<Q")
        s = b[pos:pos + n]
        pos += n
        return s

    def value(vt):
        if vt == STR:
            return string()
        if vt == ARR:
            et = take("<I")
            n = take("<Q")
            return (et, [value(et) for _ in range(n)])
        return take(SCALAR[vt])

    take("<I")
    take("<Q")
    n_kv = take("<Q")
    kvs = []
    for _ in range(n_kv):
        k = string().decode()
        vt = take("<I")
        kvs.append((k, vt, value(vt)))
    return kvs


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    assert len(data) < 64 * 1024, (name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def small_vocab(pre, n_extra=40):
    """A gpt2 BPE vocabulary cut from the tiny model's: the 256 byte tokens, the first merges
    whose parts and result are tokens, and the special tokens, renumbered."""
    kv = {k: (vt, v) for k, vt, v in read_kvs(os.path.join(DATA, "tiny-bitnet-f16.gguf"))}
    tokens = kv["tokenizer.ggml.tokens"][1][1]
    types = kv["tokenizer.ggml.token_type"][1][1]
    merges = kv["tokenizer.ggml.merges"][1][1]
    keep = list(tokens[:256])
    chosen = []
    for m in merges:
        left, right = m.split(b" ", 1)
        if left in keep and right in keep and left + right not in keep:
            keep.append(left + right)
            chosen.append(m)
            if len(chosen) == n_extra:
                break
    specials = [t for t, ty in zip(tokens, types) if ty == 3]
    ids = keep + specials
    ttypes = [1] * len(keep) + [3] * len(specials)
    bos = ids.index(tokens[kv["tokenizer.ggml.bos_token_id"][1]])
    eos = ids.index(tokens[kv["tokenizer.ggml.eos_token_id"][1]])
    return [
        ("general.architecture", STR, "bitnet"),
        ("tokenizer.ggml.model", STR, "gpt2"),
        ("tokenizer.ggml.pre", STR, pre),
        ("tokenizer.ggml.tokens", ARR, (STR, ids)),
        ("tokenizer.ggml.token_type", ARR, (I32, ttypes)),
        ("tokenizer.ggml.merges", ARR, (STR, chosen)),
        ("tokenizer.ggml.bos_token_id", U32, bos),
        ("tokenizer.ggml.eos_token_id", U32, eos),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
    ]


def gguf_seeds():
    write("fuzz_gguf", "minimal-v3.gguf", gguf([], []))
    write("fuzz_gguf", "minimal-v2.gguf", gguf([], [], version=2))
    every = [
        ("general.architecture", STR, "bitnet"),
        ("general.alignment", U32, 64),
        ("u8", U8, 255), ("i8", I8, -128), ("u16", U16, 65535), ("i16", I16, -32768),
        ("u32", U32, 4294967295), ("i32", I32, -2147483648), ("f32", F32, 1e-5), ("bool", BOOL, True),
        ("u64", U64, 2**64 - 1), ("i64", I64, -2**63), ("f64", F64, 5e5),
        ("str.utf8", STR, "caf\u00e9 \U0001F600"), ("str.bytes", STR, b"\xff\xc0\x80\"\\\n"),
        ("arr.f32", ARR, (F32, [1.0, -2.5, float("inf")])), ("arr.bool", ARR, (BOOL, [True, False])),
        ("arr.str", ARR, (STR, ["a", "", "\u0120b"])), ("arr.i64", ARR, (I64, [-1, 2**62])),
        ("arr.nested", ARR, (ARR, [(U8, [1, 2]), (STR, ["x"]), (ARR, [(I32, [])])])),
        ("arr.empty", ARR, (F64, [])),
    ]
    tensors = [("a.f32", F32_T, [4], None), ("b.q8_0", Q8_0_T, [32, 2], None), ("c.f16", F16_T, [3, 1, 1, 2], None)]
    write("fuzz_gguf", "every-type-aligned64.gguf", gguf(every, tensors, alignment=64))
    ternary = [("general.architecture", STR, "bitnet-b1.58"), ("general.file_type", U32, 40)]
    tensors = [("tq2", TQ2_0_T, [256, 2], None), ("tq1", TQ1_0_T, [256], None), ("i2s", I2_S_T, [128, 2], None),
               ("q6k", Q6_K_T, [256], None), ("bf16", BF16_T, [8], None)]
    write("fuzz_gguf", "ternary-types.gguf", gguf(ternary, tensors))
    for pre in ("llama-bpe", "gpt2", "default"):
        kvs = small_vocab(pre)
        write("fuzz_gguf", f"vocab-{pre}.gguf", gguf(kvs, [("output_norm.weight", F32_T, [16], None)]))
    with open(os.path.join(DATA, "tiny-bitnet-tq2_0.gguf"), "rb") as f:
        write("fuzz_gguf", "tiny-tq2_0-truncated.gguf", f.read(6000))


def tokenizer_seeds():
    texts = {
        "hello": b"Hello world",
        "sentence": b"The quick brown fox jumps over the lazy dog, doesn't it? I'm sure we'll see.\n",
        "digits": b"3.14159 1234567 42nd 2025-11-26 0x1F",
        "whitespace": b"  a\t\tb\r\n\r\n   \n\x0b\x0c c    ",
        "special": b"<|begin_of_text|>Hi<|eot_id|><|end_of_text|> <|start_header_id|>user<|end_header_id|>",
        "utf8": "caf\u00e9 na\u00efve \u65e5\u672c\u8a9e \U0001F600\U0001F44D \u00a0\u2028x".encode(),
        "invalid-utf8": b"\xff\xfe a\xc0\xaf b\xe0\x80\x80 c\xed\xa0\x80 d\xf4\x90\x80\x80 e\xf8\x88 f\xc3",
        "punct": b"!!!??? ... --- ((a)) [b] {c} $5 +=<>^~| 'S 'T 'RE 'VE 'M 'LL 'D",
        "code": b"def f(x):\n    return x**2  # square\n\nprint(f(3))\n",
        "empty": b"",
    }
    for name, t in texts.items():
        write("fuzz_tokenizer", name + ".txt", t)


if __name__ == "__main__":
    gguf_seeds()
    tokenizer_seeds()
