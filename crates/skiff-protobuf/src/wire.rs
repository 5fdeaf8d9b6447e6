//! The protobuf wire format: a bounds-checked reader and a writer.

/// Wire type of a varint (int32, int64, bool).
pub(crate) const VARINT: u8 = 0;
/// Wire type of a fixed 64-bit value (double).
pub(crate) const I64: u8 = 1;
/// Wire type of a length-delimited value (string, bytes, message, packed repeated).
pub(crate) const LEN: u8 = 2;
/// Wire type of a fixed 32-bit value.
pub(crate) const I32: u8 = 5;

/// A low-level wire error, given its message context by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The data ended early.
    Truncated,
    /// A varint longer than 10 bytes.
    Varint,
    /// Field number 0 or an unsupported wire type (groups, 6, 7).
    Key { field: u64, wire_type: u8 },
}

/// One field's value as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// A varint.
    Varint(u64),
    /// 8 bytes.
    Fixed64(u64),
    /// 4 bytes.
    Fixed32(u32),
    /// Length-delimited bytes.
    Len(&'a [u8]),
}

impl Value<'_> {
    /// The wire type of this value.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            Value::Varint(_) => VARINT,
            Value::Fixed64(_) => I64,
            Value::Fixed32(_) => I32,
            Value::Len(_) => LEN,
        }
    }
}

/// Reads fields from a message's bytes.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over one message's bytes.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether all bytes are read.
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Reads a varint.
    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for (i, &b) in self.data.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.data = &self.data[i + 1..];
                return Ok(value);
            }
        }
        Err(if self.data.len() < 10 {
            WireError::Truncated
        } else {
            WireError::Varint
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.data.len() {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    /// Reads the next field: its number and value. `None` at the end.
    pub(crate) fn field(&mut self) -> Result<Option<(u32, Value<'a>)>, WireError> {
        if self.data.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let wire_type = (key & 7) as u8;
        let number = key >> 3;
        let bad = WireError::Key {
            field: number,
            wire_type,
        };
        let tag = u32::try_from(number)
            .ok()
            .filter(|&n| n > 0 && n < (1 << 29))
            .ok_or(bad)?;
        let value = match wire_type {
            VARINT => Value::Varint(self.varint()?),
            I64 => Value::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            LEN => {
                let n = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                Value::Len(self.take(n)?)
            }
            I32 => Value::Fixed32(u32::from_le_bytes(self.fixed::<4>()?)),
            _ => return Err(bad),
        };
        Ok(Some((tag, value)))
    }

    /// Reads 8 little-endian bytes.
    pub(crate) fn fixed64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.fixed::<8>()?))
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// Appends protobuf fields to a buffer.
#[derive(Default)]
pub(crate) struct Writer {
    /// The bytes written so far.
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    /// Appends a varint.
    pub(crate) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// Appends a field key.
    pub(crate) fn key(&mut self, tag: u32, wire_type: u8) {
        self.varint((u64::from(tag) << 3) | u64::from(wire_type));
    }

    /// Appends a varint field.
    pub(crate) fn varint_field(&mut self, tag: u32, v: u64) {
        self.key(tag, VARINT);
        self.varint(v);
    }

    /// Appends a length-delimited field.
    pub(crate) fn bytes_field(&mut self, tag: u32, bytes: &[u8]) {
        self.key(tag, LEN);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    /// Appends a double field.
    pub(crate) fn double_field(&mut self, tag: u32, v: f64) {
        self.key(tag, I64);
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX,
            (-1i64) as u64,
        ] {
            let mut w = Writer::default();
            w.varint(v);
            assert_eq!(Reader::new(&w.buf).varint(), Ok(v));
        }
        assert_eq!(Reader::new(&[0x80]).varint(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(WireError::Varint));
    }

    #[test]
    fn reads_fields() {
        let mut w = Writer::default();
        w.varint_field(1, 150);
        w.bytes_field(2, b"hi");
        w.double_field(3, 1.5);
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.field(), Ok(Some((1, Value::Varint(150)))));
        assert_eq!(r.field(), Ok(Some((2, Value::Len(b"hi")))));
        assert_eq!(r.field(), Ok(Some((3, Value::Fixed64(1.5f64.to_bits())))));
        assert_eq!(r.field(), Ok(None));
        assert!(matches!(
            Reader::new(&[0x00]).field(),
            Err(WireError::Key { field: 0, .. })
        ));
        assert!(matches!(
            Reader::new(&[0x0b]).field(),
            Err(WireError::Key { wire_type: 3, .. })
        ));
        assert_eq!(
            Reader::new(&[0x12, 0x05, b'a']).field(),
            Err(WireError::Truncated)
        );
    }
}
