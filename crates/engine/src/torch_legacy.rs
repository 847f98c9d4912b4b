//! Reader for PyTorch's legacy (pre-1.6, non-zip) `torch.save` format.
//!
//! Layout of such a file: five consecutive pickles and raw storage bytes —
//! magic number (an int), protocol version (1001), a `sys_info` dict, the main
//! object, the list of storage keys in write order — then for each key an
//! `i64` element count followed by the storage's little-endian elements.
//! Tensors in the main object are `torch._utils._rebuild_tensor_v2(storage,
//! offset, size, stride, requires_grad, backward_hooks)` calls whose storage
//! is a persistent id `('storage', <torch XStorage>, key, location, numel[,
//! view_metadata])`; several tensors may be views into one storage (Resemblyzer's
//! LSTM weights all live in one flat cuDNN buffer), so offsets and strides are
//! honoured when the tensor is materialised.
//!
//! Only the subset of the pickle VM that `torch.save` emits is implemented
//! (protocol 2 opcodes). Nothing here executes code: `GLOBAL` only yields a
//! name, and `REDUCE` is interpreted for the handful of callables torch uses.
//! Every malformed input becomes [`TorchLoadError`]; nothing panics.

use std::collections::HashMap;
use std::path::Path;

/// Magic number written first by legacy `torch.save` (80 bits, so it travels
/// as a 10-byte LONG1).
const LEGACY_MAGIC: u128 = 0x1950a86a20f9469cfc6c;
/// Protocol version written second by legacy `torch.save`.
const LEGACY_PROTOCOL: i64 = 1001;
/// Refuse storages beyond this many elements (4 Gi): a corrupt count must
/// not turn into a huge allocation.
const MAX_STORAGE_ELEMENTS: u64 = 1 << 32;

/// A dense f32 tensor in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Why a legacy torch file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TorchLoadError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a legacy torch file: {0}")]
    NotLegacyTorch(String),
    #[error("truncated file: {0}")]
    Truncated(String),
    #[error("corrupt pickle at byte {offset}: {message}")]
    Pickle { offset: usize, message: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("tensor {name}: {message}")]
    BadTensor { name: String, message: String },
    #[error("no state dict (a dict of name -> tensor) found in the file")]
    NoStateDict,
}

impl From<TorchLoadError> for crate::EngineError {
    fn from(e: TorchLoadError) -> Self {
        crate::EngineError::Weights(e.to_string())
    }
}

/// A value of the pickle VM, restricted to what torch checkpoints contain.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// LONG1 wider than 64 bits, little-endian two's complement (torch's magic).
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Key/value pairs in insertion order (dict and OrderedDict alike).
    Dict(Vec<(Value, Value)>),
    /// `module.name` from a GLOBAL opcode.
    Global(String),
    /// Result of BINPERSID on a storage tuple.
    Storage(StorageRef),
    /// A tensor view waiting for its storage bytes.
    Tensor(TensorRef),
    /// Result of a REDUCE this reader does not model (e.g. optimizer objects);
    /// harmless as long as nobody needs it as a tensor.
    Opaque(String),
}

#[derive(Debug, Clone, PartialEq)]
struct StorageRef {
    key: String,
    dtype: StorageDtype,
    numel: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum StorageDtype {
    F32,
    F64,
    F16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageDtype {
    fn from_class(name: &str) -> Option<Self> {
        Some(match name {
            "torch.FloatStorage" => Self::F32,
            "torch.DoubleStorage" => Self::F64,
            "torch.HalfStorage" => Self::F16,
            "torch.LongStorage" => Self::I64,
            "torch.IntStorage" => Self::I32,
            "torch.ShortStorage" => Self::I16,
            "torch.CharStorage" => Self::I8,
            "torch.ByteStorage" => Self::U8,
            "torch.BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// Element `i` of `bytes` (little-endian) as f32. Caller guarantees bounds.
    fn read_f32(self, bytes: &[u8], i: usize) -> f32 {
        let s = self.size();
        let b = &bytes[i * s..(i + 1) * s];
        match self {
            Self::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Self::F64 => {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
            Self::F16 => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            Self::I64 => {
                i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
            Self::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            Self::I16 => i16::from_le_bytes([b[0], b[1]]) as f32,
            Self::I8 => b[0] as i8 as f32,
            Self::U8 | Self::Bool => b[0] as f32,
        }
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 if frac == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f32.powi(exp - 15),
    }
}

#[derive(Debug, Clone, PartialEq)]
struct TensorRef {
    storage: StorageRef,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// Reads the state dict of a legacy torch checkpoint file.
///
/// The state dict is the top-level object when it maps names to tensors, or
/// else the first value under `model_state`, `state_dict` or `model` that does.
pub fn load_state_dict(path: &Path) -> Result<HashMap<String, Tensor>, TorchLoadError> {
    let bytes = std::fs::read(path)?;
    parse_state_dict(&bytes)
}

/// [`load_state_dict`] on bytes already in memory.
pub fn parse_state_dict(bytes: &[u8]) -> Result<HashMap<String, Tensor>, TorchLoadError> {
    let mut pos = 0usize;
    let magic = Unpickler::run(bytes, &mut pos)?;
    if magic != Value::BigInt(LEGACY_MAGIC.to_le_bytes()[..10].to_vec()) {
        // The zip format starts with "PK"; say so, it is the likely mistake.
        let hint = if bytes.starts_with(b"PK") {
            " (this is a zip-format torch file)"
        } else {
            ""
        };
        return Err(TorchLoadError::NotLegacyTorch(format!(
            "bad magic number{hint}"
        )));
    }
    let protocol = Unpickler::run(bytes, &mut pos)?;
    if protocol != Value::Int(LEGACY_PROTOCOL) {
        return Err(TorchLoadError::NotLegacyTorch(format!(
            "unexpected protocol version {protocol:?}"
        )));
    }
    let sys_info = Unpickler::run(bytes, &mut pos)?;
    check_sys_info(&sys_info)?;
    let main = Unpickler::run(bytes, &mut pos)?;
    let keys = match Unpickler::run(bytes, &mut pos)? {
        Value::List(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s),
                other => Err(TorchLoadError::NotLegacyTorch(format!(
                    "storage key is not a string: {other:?}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(TorchLoadError::NotLegacyTorch(format!(
                "storage key list expected, got {other:?}"
            )))
        }
    };

    let named = find_state_dict(&main).ok_or(TorchLoadError::NoStateDict)?;

    // Which storages we need, with their dtype (from the persistent ids).
    let mut wanted: HashMap<&str, StorageDtype> = HashMap::new();
    for (_, t) in &named {
        wanted.insert(&t.storage.key, t.storage.dtype);
    }
    // Element sizes of every storage (also unneeded ones, to skip over them):
    // collect from every storage reference anywhere in the object graph.
    let mut dtypes: HashMap<String, (StorageDtype, u64)> = HashMap::new();
    collect_storages(&main, &mut dtypes);

    let mut storage_bytes: HashMap<&str, &[u8]> = HashMap::new();
    for key in &keys {
        let count_bytes = bytes.get(pos..pos + 8).ok_or_else(|| {
            TorchLoadError::Truncated(format!("storage {key}: missing element count"))
        })?;
        let count = u64::from_le_bytes(count_bytes.try_into().unwrap_or([0; 8]));
        pos += 8;
        let (dtype, declared) = *dtypes.get(key).ok_or_else(|| {
            TorchLoadError::NotLegacyTorch(format!("storage {key} listed but never referenced"))
        })?;
        if count > MAX_STORAGE_ELEMENTS || count != declared {
            return Err(TorchLoadError::NotLegacyTorch(format!(
                "storage {key}: {count} elements on disk, {declared} declared"
            )));
        }
        let len = count as usize * dtype.size();
        let data = bytes.get(pos..pos + len).ok_or_else(|| {
            TorchLoadError::Truncated(format!("storage {key}: needs {len} bytes"))
        })?;
        pos += len;
        storage_bytes.insert(key.as_str(), data);
    }

    let mut out = HashMap::with_capacity(named.len());
    for (name, t) in named {
        let data =
            storage_bytes
                .get(t.storage.key.as_str())
                .ok_or_else(|| TorchLoadError::BadTensor {
                    name: name.clone(),
                    message: format!("storage {} missing from the file", t.storage.key),
                })?;
        let tensor = materialise(&t, data).map_err(|message| TorchLoadError::BadTensor {
            name: name.clone(),
            message,
        })?;
        out.insert(name, tensor);
    }
    Ok(out)
}

/// State dict of a zip-format (torch >= 1.6) checkpoint. Its `data.pkl` is the
/// same protocol-2 object graph as the legacy format's main object, but each
/// storage is its own archive member: `storage(key)` returns the raw
/// little-endian bytes of `<archive>/data/<key>` (the zip container itself is
/// read by [`crate::torch_zip`]).
pub fn state_dict_from_pickle<'s>(
    pickle: &[u8],
    storage: impl Fn(&str) -> Option<&'s [u8]>,
) -> Result<HashMap<String, Tensor>, TorchLoadError> {
    let main = Unpickler::run(pickle, &mut 0)?;
    let named = find_state_dict(&main).ok_or(TorchLoadError::NoStateDict)?;
    let mut out = HashMap::with_capacity(named.len());
    for (name, t) in named {
        let data = storage(&t.storage.key).ok_or_else(|| TorchLoadError::BadTensor {
            name: name.clone(),
            message: format!("storage {} missing from the archive", t.storage.key),
        })?;
        let declared = usize::try_from(t.storage.numel)
            .ok()
            .and_then(|n| n.checked_mul(t.storage.dtype.size()));
        if declared != Some(data.len()) {
            return Err(TorchLoadError::BadTensor {
                name,
                message: format!(
                    "storage {} holds {} bytes, {} elements declared",
                    t.storage.key,
                    data.len(),
                    t.storage.numel
                ),
            });
        }
        let tensor = materialise(&t, data).map_err(|message| TorchLoadError::BadTensor {
            name: name.clone(),
            message,
        })?;
        out.insert(name, tensor);
    }
    Ok(out)
}

fn check_sys_info(info: &Value) -> Result<(), TorchLoadError> {
    let Value::Dict(items) = info else {
        return Err(TorchLoadError::NotLegacyTorch(
            "sys_info is not a dict".into(),
        ));
    };
    for (k, v) in items {
        if *k == Value::Str("little_endian".into()) && *v == Value::Bool(false) {
            return Err(TorchLoadError::Unsupported("big-endian torch file".into()));
        }
    }
    Ok(())
}

fn as_tensor_dict(v: &Value) -> Option<Vec<(String, TensorRef)>> {
    let Value::Dict(items) = v else { return None };
    let mut out = Vec::new();
    for (k, val) in items {
        if let (Value::Str(name), Value::Tensor(t)) = (k, val) {
            out.push((name.clone(), t.clone()));
        }
    }
    (!out.is_empty()).then_some(out)
}

fn find_state_dict(main: &Value) -> Option<Vec<(String, TensorRef)>> {
    if let Some(d) = as_tensor_dict(main) {
        return Some(d);
    }
    let Value::Dict(items) = main else {
        return None;
    };
    for wanted in ["model_state", "state_dict", "model"] {
        for (k, v) in items {
            if *k == Value::Str(wanted.into()) {
                if let Some(d) = as_tensor_dict(v) {
                    return Some(d);
                }
            }
        }
    }
    None
}

fn collect_storages(v: &Value, out: &mut HashMap<String, (StorageDtype, u64)>) {
    match v {
        Value::Storage(s) => {
            out.insert(s.key.clone(), (s.dtype, s.numel));
        }
        Value::Tensor(t) => {
            out.insert(t.storage.key.clone(), (t.storage.dtype, t.storage.numel));
        }
        Value::Tuple(xs) | Value::List(xs) => xs.iter().for_each(|x| collect_storages(x, out)),
        Value::Dict(kv) => kv.iter().for_each(|(k, x)| {
            collect_storages(k, out);
            collect_storages(x, out);
        }),
        _ => {}
    }
}

/// Copies a strided view out of its storage into a dense row-major tensor.
fn materialise(t: &TensorRef, storage: &[u8]) -> Result<Tensor, String> {
    let elem = t.storage.dtype.size();
    let storage_len = storage.len() / elem;
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("shape overflows")?;
    if numel > 0 {
        // Highest element index the view touches.
        let mut last = t.offset;
        for (&d, &s) in t.shape.iter().zip(&t.stride) {
            last = (d - 1)
                .checked_mul(s)
                .and_then(|x| x.checked_add(last))
                .ok_or("stride overflows")?;
        }
        if last >= storage_len {
            return Err(format!(
                "view (offset {}, shape {:?}, stride {:?}) reaches element {last} of a {storage_len}-element storage",
                t.offset, t.shape, t.stride
            ));
        }
    }
    let mut data = Vec::with_capacity(numel);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..numel {
        let flat = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        data.push(t.storage.dtype.read_f32(storage, flat));
        // Odometer increment, last dimension fastest (row-major).
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(Tensor {
        shape: t.shape.clone(),
        data,
    })
}

/// The pickle virtual machine (protocol ≤ 2 subset used by `torch.save`).
struct Unpickler<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack depths saved by MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

/// Upper bound on the memo size and the stack depth: corrupt indices must not
/// become unbounded allocations.
const MAX_STACK: usize = 1 << 20;

impl<'a> Unpickler<'a> {
    /// Runs one pickle starting at `*pos`; on success `*pos` is just past STOP.
    fn run(bytes: &'a [u8], pos: &mut usize) -> Result<Value, TorchLoadError> {
        let mut vm = Unpickler {
            bytes,
            pos: *pos,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        };
        let value = vm.execute()?;
        *pos = vm.pos;
        Ok(value)
    }

    fn err(&self, message: impl Into<String>) -> TorchLoadError {
        TorchLoadError::Pickle {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TorchLoadError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                TorchLoadError::Truncated(format!(
                    "pickle needs {n} more bytes at byte {}",
                    self.pos
                ))
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, TorchLoadError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, TorchLoadError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, TorchLoadError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<String, TorchLoadError> {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| TorchLoadError::Truncated("unterminated GLOBAL name".into()))?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| self.err("GLOBAL name is not UTF-8"))?
            .to_owned();
        self.pos += n + 1;
        Ok(s)
    }

    fn push(&mut self, v: Value) -> Result<(), TorchLoadError> {
        if self.stack.len() >= MAX_STACK {
            return Err(self.err("stack too deep"));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, TorchLoadError> {
        if self.marks.last().is_some_and(|&m| self.stack.len() <= m) {
            return Err(self.err("pop across a MARK"));
        }
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    fn top_mut(&mut self) -> Result<&mut Value, TorchLoadError> {
        let offset = self.pos;
        self.stack.last_mut().ok_or(TorchLoadError::Pickle {
            offset,
            message: "stack underflow".into(),
        })
    }

    /// Pops everything above the most recent MARK.
    fn pop_mark(&mut self) -> Result<Vec<Value>, TorchLoadError> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.err("no MARK on the stack"))?;
        if m > self.stack.len() {
            return Err(self.err("MARK above stack top"));
        }
        Ok(self.stack.split_off(m))
    }

    fn memo_put(&mut self, idx: u32) -> Result<(), TorchLoadError> {
        if self.memo.len() >= MAX_STACK {
            return Err(self.err("memo too large"));
        }
        let v = self
            .stack
            .last()
            .cloned()
            .ok_or_else(|| self.err("PUT on empty stack"))?;
        self.memo.insert(idx, v);
        Ok(())
    }

    fn memo_get(&mut self, idx: u32) -> Result<(), TorchLoadError> {
        let v = self
            .memo
            .get(&idx)
            .cloned()
            .ok_or_else(|| self.err(format!("GET of unset memo slot {idx}")))?;
        self.push(v)
    }

    fn execute(&mut self) -> Result<Value, TorchLoadError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO
                    let p = self.u8()?;
                    if p > 2 {
                        return Err(TorchLoadError::Unsupported(format!("pickle protocol {p}")));
                    }
                }
                b'.' => {
                    // STOP
                    let v = self.pop()?;
                    return Ok(v);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'}' => self.push(Value::Dict(Vec::new()))?,
                b']' => self.push(Value::List(Vec::new()))?,
                b')' => self.push(Value::Tuple(Vec::new()))?,
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)))?
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(i64::from(v)))?
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(i64::from(v)))?
                }
                0x8a => {
                    // LONG1: n-byte little-endian two's complement.
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?;
                    if n > 8 {
                        self.push(Value::BigInt(b.to_vec()))?
                    } else {
                        let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                            [0xffu8; 8]
                        } else {
                            [0u8; 8]
                        };
                        buf[..n].copy_from_slice(b);
                        self.push(Value::Int(i64::from_le_bytes(buf)))?
                    }
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
                    self.push(Value::Float(v))?
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    let s = std::str::from_utf8(b)
                        .map_err(|_| self.err("BINUNICODE is not UTF-8"))?
                        .to_owned();
                    self.push(Value::Str(s))?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(format!("{module}.{name}")))?
                }
                b'q' => {
                    let i = self.u8()?;
                    self.memo_put(u32::from(i))?
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?
                }
                b'h' => {
                    let i = self.u8()?;
                    self.memo_get(u32::from(i))?
                }
                b'j' => {
                    let i = self.u32()?;
                    self.memo_get(i)?
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items))?
                }
                0x85 => {
                    let a = self.pop()?;
                    self.push(Value::Tuple(vec![a]))?
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push(Value::Tuple(vec![a, b]))?
                }
                0x87 => {
                    let c = self.pop()?;
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push(Value::Tuple(vec![a, b, c]))?
                }
                b'a' => {
                    let v = self.pop()?;
                    match self.top_mut()? {
                        Value::List(xs) => xs.push(v),
                        _ => return Err(self.err("APPEND to a non-list")),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.top_mut()? {
                        Value::List(xs) => xs.extend(items),
                        _ => return Err(self.err("APPENDS to a non-list")),
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    match self.top_mut()? {
                        Value::Dict(kv) => kv.push((k, v)),
                        _ => return Err(self.err("SETITEM on a non-dict")),
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(self.err("SETITEMS with an odd number of items"));
                    }
                    let mut it = items.into_iter();
                    let mut pairs = Vec::new();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    match self.top_mut()? {
                        Value::Dict(kv) => kv.extend(pairs),
                        _ => return Err(self.err("SETITEMS on a non-dict")),
                    }
                }
                b'b' => {
                    // BUILD: sets object state (OrderedDict._metadata here);
                    // we keep the object and drop the state.
                    let _state = self.pop()?;
                    self.top_mut()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = self.persistent_load(pid)?;
                    self.push(storage)?
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.push(v)?
                }
                b'0' => {
                    self.pop()?;
                }
                other => {
                    self.pos -= 1;
                    return Err(self.err(format!("unsupported opcode 0x{other:02x}")));
                }
            }
        }
    }

    /// `('storage', <class>, key, location, numel[, view_metadata])`.
    fn persistent_load(&self, pid: Value) -> Result<Value, TorchLoadError> {
        let Value::Tuple(items) = pid else {
            return Err(self.err("persistent id is not a tuple"));
        };
        match items.as_slice() {
            [Value::Str(tag), Value::Global(class), Value::Str(key), _location, Value::Int(numel), rest @ ..]
                if tag == "storage" =>
            {
                if !matches!(rest, [] | [Value::None]) {
                    return Err(TorchLoadError::Unsupported(format!(
                        "storage view metadata on {key}"
                    )));
                }
                let dtype = StorageDtype::from_class(class)
                    .ok_or_else(|| TorchLoadError::Unsupported(format!("storage type {class}")))?;
                let numel = u64::try_from(*numel).map_err(|_| self.err("negative storage size"))?;
                Ok(Value::Storage(StorageRef {
                    key: key.clone(),
                    dtype,
                    numel,
                }))
            }
            _ => Err(self.err("persistent id is not a storage tuple")),
        }
    }

    fn reduce(&self, callable: Value, args: Value) -> Result<Value, TorchLoadError> {
        let Value::Global(name) = callable else {
            return Err(self.err("REDUCE of a non-callable"));
        };
        let Value::Tuple(args) = args else {
            return Err(self.err("REDUCE arguments are not a tuple"));
        };
        match name.as_str() {
            "collections.OrderedDict" => Ok(Value::Dict(Vec::new())),
            "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
                let [Value::Storage(storage), Value::Int(offset), Value::Tuple(size), Value::Tuple(stride), ..] =
                    args.as_slice()
                else {
                    return Err(self.err(format!("bad arguments to {name}")));
                };
                let to_usize = |v: &Value| match v {
                    Value::Int(i) => {
                        usize::try_from(*i).map_err(|_| self.err("negative tensor dimension"))
                    }
                    _ => Err(self.err("tensor dimension is not an int")),
                };
                let shape = size.iter().map(to_usize).collect::<Result<Vec<_>, _>>()?;
                let stride = stride.iter().map(to_usize).collect::<Result<Vec<_>, _>>()?;
                if shape.len() != stride.len() {
                    return Err(self.err("tensor size and stride differ in rank"));
                }
                let offset =
                    usize::try_from(*offset).map_err(|_| self.err("negative storage offset"))?;
                Ok(Value::Tensor(TensorRef {
                    storage: storage.clone(),
                    offset,
                    shape,
                    stride,
                }))
            }
            // Anything else (optimizer internals etc.) is kept as an opaque
            // placeholder: we never call it.
            other => Ok(Value::Opaque(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal pickle writer for hand-built test files.
    #[derive(Default)]
    struct P(Vec<u8>);

    impl P {
        fn op(&mut self, b: u8) -> &mut Self {
            self.0.push(b);
            self
        }
        fn int(&mut self, v: i64) -> &mut Self {
            if (0..256).contains(&v) {
                self.0.extend([b'K', v as u8]);
            } else {
                self.0.push(b'J');
                self.0.extend((v as i32).to_le_bytes());
            }
            self
        }
        fn str(&mut self, s: &str) -> &mut Self {
            self.0.push(b'X');
            self.0.extend((s.len() as u32).to_le_bytes());
            self.0.extend(s.as_bytes());
            self
        }
        fn global(&mut self, m: &str, n: &str) -> &mut Self {
            self.0.push(b'c');
            self.0.extend(format!("{m}\n{n}\n").as_bytes());
            self
        }
        fn ints(&mut self, xs: &[i64]) -> &mut Self {
            self.op(b'(');
            for &x in xs {
                self.int(x);
            }
            self.op(b't')
        }
        /// `_rebuild_tensor_v2(storage(key, numel), offset, size, stride, False, OrderedDict())`
        fn tensor(
            &mut self,
            key: &str,
            numel: i64,
            offset: i64,
            size: &[i64],
            stride: &[i64],
        ) -> &mut Self {
            self.global("torch._utils", "_rebuild_tensor_v2").op(b'(');
            self.op(b'(')
                .str("storage")
                .global("torch", "FloatStorage")
                .str(key)
                .str("cpu")
                .int(numel)
                .op(b'N');
            self.op(b't')
                .op(b'Q')
                .int(offset)
                .ints(size)
                .ints(stride)
                .op(0x89);
            self.global("collections", "OrderedDict").op(b')').op(b'R');
            self.op(b't').op(b'R')
        }
    }

    fn header() -> Vec<u8> {
        let mut out = Vec::new();
        // magic as LONG1 (10 bytes), protocol, sys_info
        out.extend([0x80, 2, 0x8a, 10]);
        out.extend(&0x1950a86a20f9469cfc6c_u128.to_le_bytes()[..10]);
        out.push(b'.');
        out.extend([0x80, 2, b'M']);
        out.extend(1001u16.to_le_bytes());
        out.push(b'.');
        let mut p = P::default();
        p.op(0x80)
            .op(2)
            .op(b'}')
            .op(b'(')
            .str("little_endian")
            .op(0x88)
            .op(b'u')
            .op(b'.');
        out.extend(p.0);
        out
    }

    fn storage_section(keys: &[(&str, Vec<f32>)]) -> Vec<u8> {
        let mut p = P::default();
        p.op(0x80).op(2).op(b']').op(b'(');
        for (k, _) in keys {
            p.str(k);
        }
        p.op(b'e').op(b'.');
        let mut out = p.0;
        for (_, data) in keys {
            out.extend((data.len() as u64).to_le_bytes());
            for x in data {
                out.extend(x.to_le_bytes());
            }
        }
        out
    }

    /// `{'model_state': OrderedDict(w = view of 's0' at offset 2 shape (2,3) stride (3,1),
    ///   wt = transposed view of the same storage, b = 's1')}`
    fn sample_file() -> Vec<u8> {
        let mut out = header();
        let mut p = P::default();
        p.op(0x80)
            .op(2)
            .op(b'}')
            .op(b'(')
            .str("step")
            .int(7)
            .str("model_state");
        p.global("collections", "OrderedDict")
            .op(b')')
            .op(b'R')
            .op(b'q')
            .op(0)
            .op(b'(');
        p.str("w").tensor("s0", 8, 2, &[2, 3], &[3, 1]);
        p.str("wt").tensor("s0", 8, 2, &[3, 2], &[1, 3]);
        p.str("b").tensor("s1", 2, 0, &[2], &[1]);
        p.op(b'u').op(b'u').op(b'.');
        out.extend(p.0);
        out.extend(storage_section(&[
            ("s0", (0..8).map(|x| x as f32).collect()),
            ("s1", vec![-1.5, 2.5]),
        ]));
        out
    }

    #[test]
    fn reads_views_with_offset_and_stride() {
        let sd = parse_state_dict(&sample_file()).unwrap();
        assert_eq!(sd.len(), 3);
        assert_eq!(
            sd["w"],
            Tensor {
                shape: vec![2, 3],
                data: vec![2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
            }
        );
        assert_eq!(
            sd["wt"],
            Tensor {
                shape: vec![3, 2],
                data: vec![2.0, 5.0, 3.0, 6.0, 4.0, 7.0]
            }
        );
        assert_eq!(sd["b"].data, vec![-1.5, 2.5]);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let file = sample_file();
        for cut in 0..file.len() {
            assert!(
                parse_state_dict(&file[..cut]).is_err(),
                "truncated at {cut} parsed"
            );
        }
    }

    #[test]
    fn corrupt_bytes_never_panic() {
        let file = sample_file();
        // Flip each byte in turn; any outcome but a panic is acceptable.
        for i in 0..file.len() {
            let mut f = file.clone();
            f[i] ^= 0x5a;
            let _ = parse_state_dict(&f);
        }
    }

    #[test]
    fn view_beyond_storage_is_rejected() {
        let mut out = header();
        let mut p = P::default();
        p.op(0x80)
            .op(2)
            .op(b'}')
            .op(b'(')
            .str("w")
            .tensor("s0", 4, 2, &[2, 2], &[2, 1])
            .op(b'u')
            .op(b'.');
        out.extend(p.0);
        out.extend(storage_section(&[("s0", vec![0.0; 4])]));
        let err = parse_state_dict(&out).unwrap_err();
        assert!(matches!(err, TorchLoadError::BadTensor { .. }), "{err}");
    }

    #[test]
    fn zip_format_is_named_in_the_error() {
        let err = parse_state_dict(b"PK\x03\x04rest").unwrap_err();
        assert!(
            err.to_string().contains("zip") || matches!(err, TorchLoadError::Pickle { .. }),
            "{err}"
        );
    }

    #[test]
    fn storage_count_mismatch_is_rejected() {
        let mut file = sample_file();
        // The last storage (s1, 2 elements) starts 16 bytes before the end with its count.
        let n = file.len();
        file[n - 16] = 3;
        assert!(parse_state_dict(&file).is_err());
    }

    #[test]
    fn half_precision_decodes() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    }
}
