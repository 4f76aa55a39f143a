//! WebAssembly's binary format, as far as protege rewrites modules: LEB128 integers and the
//! section list. Used by the start-up snapshot (`snapshot`) and the deadline probes
//! (`deadline`), which each rewrite the pinned module and must agree on its encoding.

use std::fmt;

/// What is wrong with a module that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The header of a WebAssembly 1.0 module.
pub const HEADER: &[u8; 8] = b"\0asm\x01\0\0\0";

/// The unsigned LEB128 at `b[*i..]`, moving `i` past it.
pub fn leb(b: &[u8], i: &mut usize) -> Result<u32, Malformed> {
    let (mut r, mut shift) = (0u64, 0);
    loop {
        let x = *b.get(*i).ok_or(Malformed("truncated module"))?;
        *i += 1;
        r |= u64::from(x & 0x7f) << shift;
        if x < 0x80 {
            return u32::try_from(r).map_err(|_| Malformed("malformed LEB128"));
        }
        shift += 7;
        if shift > 35 {
            return Err(Malformed("malformed LEB128"));
        }
    }
}

/// `v` as an unsigned LEB128.
pub fn put_leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Moves `i` past the signed LEB128 at `b[*i..]`.
pub fn skip_sleb(b: &[u8], i: &mut usize) -> Result<(), Malformed> {
    loop {
        let x = *b.get(*i).ok_or(Malformed("truncated module"))?;
        *i += 1;
        if x < 0x80 {
            return Ok(());
        }
    }
}

/// `v` as a signed LEB128.
pub fn put_sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            return;
        }
    }
}

/// A module's sections in order, as (id, body).
pub fn sections(wasm: &[u8]) -> Result<Vec<(u8, &[u8])>, Malformed> {
    if wasm.get(..8) != Some(HEADER) {
        return Err(Malformed("not a WebAssembly module"));
    }
    let mut out = Vec::new();
    let mut i = 8;
    while i < wasm.len() {
        let id = wasm[i];
        i += 1;
        let size = leb(wasm, &mut i)? as usize;
        let body = wasm
            .get(i..i + size)
            .ok_or(Malformed("truncated section"))?;
        i += size;
        out.push((id, body));
    }
    Ok(out)
}

/// Appends a section with its id and size.
pub fn push_section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    put_leb(out, body.len() as u32);
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_round_trips_and_refuses_what_is_cut_short() {
        for v in [0u32, 1, 127, 128, 300, 65_536, u32::MAX] {
            let mut b = Vec::new();
            put_leb(&mut b, v);
            let mut i = 0;
            assert_eq!(leb(&b, &mut i), Ok(v));
            assert_eq!(i, b.len());
        }
        assert_eq!(leb(&[0x80], &mut 0), Err(Malformed("truncated module")));
        assert_eq!(
            leb(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], &mut 0),
            Err(Malformed("malformed LEB128"))
        );
        let mut i = 0;
        skip_sleb(&[0xc0, 0x00, 0x7f], &mut i).unwrap();
        assert_eq!(i, 2);
    }

    #[test]
    fn sleb_encodes_signed_values() {
        let enc = |v: i64| {
            let mut b = Vec::new();
            put_sleb(&mut b, v);
            b
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(63), [0x3f]);
        assert_eq!(enc(64), [0xc0, 0]);
        assert_eq!(enc(-1), [0x7f]);
        assert_eq!(enc(524288), [0x80, 0x80, 0x20]);
        assert_eq!(enc(i64::from(u32::MAX as i32)), [0x7f]);
    }

    #[test]
    fn sections_read_back_what_was_pushed() {
        let mut m = HEADER.to_vec();
        push_section(&mut m, 1, b"types");
        push_section(&mut m, 10, &[0; 200]);
        let got = sections(&m).unwrap();
        assert_eq!(got, vec![(1, &b"types"[..]), (10, &[0u8; 200][..])]);
        assert_eq!(
            sections(b"nope"),
            Err(Malformed("not a WebAssembly module"))
        );
        assert_eq!(
            sections(&m[..m.len() - 1]),
            Err(Malformed("truncated section"))
        );
    }
}
