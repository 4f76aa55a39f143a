//! Members of zip archives (Python wheels): one read into memory, one extracted to disk under
//! its size and sha256 pin, or all unpacked with names that would leave the destination refused.

use std::fs::{self, File};
use std::io::{Cursor, Read};
use std::path::Path;

use zip::ZipArchive;

/// Reads one member of the archive in `archive`.
pub fn member(archive: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let mut zip = ZipArchive::new(Cursor::new(archive)).map_err(|e| format!("bad wheel: {e}"))?;
    let mut f = zip
        .by_name(name)
        .map_err(|e| format!("wheel member {name}: {e}"))?;
    let mut out = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut out)
        .map_err(|e| format!("wheel member {name}: {e}"))?;
    Ok(out)
}

/// Extracts member `name` of the archive file `archive` to `dest` (whole or not at all), checking
/// its size and sha256.
pub fn extract_pinned(
    archive: &Path,
    name: &str,
    dest: &Path,
    size: u64,
    sha256: &str,
) -> Result<(), String> {
    let shown = archive.display();
    let file = File::open(archive).map_err(|e| format!("{shown}: {e}"))?;
    let mut zip = ZipArchive::new(file).map_err(|e| format!("{shown}: not a zip archive: {e}"))?;
    let mut entry = zip
        .by_name(name)
        .map_err(|e| format!("{shown}: no member {name}: {e}"))?;
    let dir = dest.parent().expect("extraction paths have a parent");
    let mut part =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let got = crate::copy_hashing(&mut entry, part.as_file_mut())
        .map_err(|e| format!("{shown}: unzip {name}: {e}"))?;
    let total = part
        .as_file()
        .metadata()
        .map_err(|e| format!("{}: {e}", dest.display()))?
        .len();
    if total != size || got != sha256 {
        return Err(format!(
            "{name} has {total} bytes and sha256 {got}; pinned {size} bytes and {sha256}"
        ));
    }
    crate::readable(part.as_file()).map_err(|e| format!("{}: {e}", dest.display()))?;
    part.persist(dest)
        .map_err(|e| format!("{}: {}", dest.display(), e.error))?;
    Ok(())
}

/// Unpacks every regular file of the archive under `dest`. Member names that would leave
/// `dest` (`..`) are refused; absolute ones are taken as relative to it.
pub fn unpack(archive: &[u8], dest: &Path) -> Result<(), String> {
    let mut zip = ZipArchive::new(Cursor::new(archive)).map_err(|e| format!("bad wheel: {e}"))?;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| format!("bad wheel: {e}"))?;
        if f.is_dir() {
            continue;
        }
        let Some(rel) = f.enclosed_name() else {
            return Err(format!(
                "bad wheel: member `{}` leaves the archive",
                f.name().map(|n| n.into_owned()).unwrap_or_default()
            ));
        };
        let path = dest.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut out = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        std::io::copy(&mut f, &mut out).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn unpacks_members_and_refuses_escapes() {
        let d = tempfile::tempdir().unwrap();
        let z = zip_of(&[("pkg/a.py", b"a = 1\n"), ("pkg/sub/b.py", b"b")]);
        unpack(&z, d.path()).unwrap();
        assert_eq!(fs::read(d.path().join("pkg/a.py")).unwrap(), b"a = 1\n");
        assert_eq!(member(&z, "pkg/sub/b.py").unwrap(), b"b");
        assert!(member(&z, "nope").is_err());
        for evil in ["../evil.py", "pkg/../../evil.py"] {
            let z = zip_of(&[(evil, b"x")]);
            let e = unpack(&z, d.path()).unwrap_err();
            assert!(e.contains("leaves the archive"), "{evil}: {e}");
        }
        unpack(&zip_of(&[("/abs/evil.py", b"x")]), d.path()).unwrap();
        assert!(d.path().join("abs/evil.py").exists());
        assert!(!d.path().parent().unwrap().join("evil.py").exists());
    }

    #[test]
    fn extraction_checks_its_pin_and_leaves_nothing_when_it_fails() {
        let d = tempfile::tempdir().unwrap();
        let wheel = d.path().join("w.whl");
        fs::write(&wheel, zip_of(&[("m/f.bin", b"hello")])).unwrap();
        let dest = d.path().join("f.bin");
        let sha = crate::sha256_hex(b"hello");
        extract_pinned(&wheel, "m/f.bin", &dest, 5, &sha).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");
        let bad = d.path().join("g.bin");
        let e = extract_pinned(&wheel, "m/f.bin", &bad, 6, &sha).unwrap_err();
        assert!(e.contains("pinned 6 bytes"), "{e}");
        assert!(!bad.exists());
        assert!(extract_pinned(&wheel, "nope", &bad, 5, &sha).is_err());
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            2,
            "a part file was left"
        );
    }
}
