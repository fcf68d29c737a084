//! Contact directories made with another spelling of a JID.
//!
//! `mkdir DIR/Alice@Example.org` (capitals, a decomposed `é`) names the
//! contact whose directory is `DIR/alice@example.org`, the normalised form
//! (RFC 7622) that jid-route files her lines under. Served as it is, the
//! conversation would be split in two (our lines in one `out`, hers in the
//! other); left alone, a line written to its `in` would be lost in a plain
//! file nobody reads. So such a directory is [`adopt`]ed: moved to the
//! normalised name (or, when that exists, merged into it), and its name made
//! a relative symbolic link to the normalised directory, so that what a user
//! or script writes under the spelling it typed reaches the one
//! conversation. What cannot be merged without losing something (other
//! files than `in`) is left as it is and told.

use rustix::fs::{AtFlags, FileType, RenameFlags};
use rustix::io::Errno;
use std::io;
use xmpp_pipes::tree::{self, JidDir, Tree};

/// What [`adopt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adopted {
    /// The directory was renamed to the normalised name (there was none).
    Moved,
    /// The normalised directory existed: the typed one held at most an
    /// `in`, and is gone. `in_file`: a plain file `in`, now `aside` in the
    /// normalised directory, whose lines are to be sent (then removed).
    Merged { in_file: bool },
    /// Left as it is, for the reason given (what the user should do).
    Kept(String),
}

/// Move or merge the directory `spelling.name` (found by
/// [`Tree::jid_dirs`], not a contact directory) into `spelling.normal`, and
/// make its name a relative symbolic link to it. A plain file `in` found
/// in a merged directory is moved to `aside` in the normalised one.
pub fn adopt(tree: &Tree, spelling: &JidDir, aside: &str) -> io::Result<Adopted> {
    let JidDir {
        name: typed,
        normal,
    } = spelling;
    let dirfd = tree.dir(None)?;
    match rustix::fs::renameat_with(&dirfd, typed, &dirfd, normal, RenameFlags::NOREPLACE) {
        Ok(()) => {
            rustix::fs::symlinkat(normal.as_str(), &dirfd, typed)?;
            return Ok(Adopted::Moved);
        }
        Err(Errno::EXIST | Errno::NOTEMPTY) => {}
        Err(err) => return Err(err.into()),
    }
    let target = rustix::fs::statat(&dirfd, normal, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(target.st_mode) != FileType::Directory {
        return Ok(Adopted::Kept(format!(
            "{normal} exists and is not a directory"
        )));
    }
    let mut in_kind = None;
    for entry in std::fs::read_dir(tree.path().join(typed))? {
        let entry = entry?;
        let name = entry.file_name();
        if name != tree::IN {
            return Ok(Adopted::Kept(format!(
                "it holds {}; move that to {normal} and remove {typed}",
                name.to_string_lossy()
            )));
        }
        in_kind = Some(entry.file_type()?);
    }
    let in_file = match in_kind {
        None => false,
        Some(kind) if kind.is_file() => {
            let from = tree.dir(Some(typed))?;
            let to = tree.dir(Some(normal))?;
            rustix::fs::renameat(&from, tree::IN, &to, aside)?;
            true
        }
        Some(_) => {
            return Ok(Adopted::Kept(format!(
                "its {} is not a plain file; remove {typed}",
                tree::IN
            )))
        }
    };
    rustix::fs::unlinkat(&dirfd, typed, AtFlags::REMOVEDIR)?;
    rustix::fs::symlinkat(normal.as_str(), &dirfd, typed)?;
    Ok(Adopted::Merged { in_file })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn temp_tree(name: &str) -> (PathBuf, Tree) {
        let path = std::env::temp_dir().join(format!("xp-spelling-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        let tree = Tree::open(&path).unwrap();
        (path, tree)
    }

    fn link(path: &Path) -> String {
        std::fs::read_link(path)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn spelling(typed: &str, normal: &str) -> JidDir {
        JidDir {
            name: typed.to_owned(),
            normal: normal.to_owned(),
        }
    }

    #[test]
    fn a_new_spelling_is_moved_and_becomes_a_link() {
        let (path, tree) = temp_tree("moved");
        std::fs::create_dir(path.join("Bob@x")).unwrap();
        std::fs::write(path.join("Bob@x/in"), "hi\n").unwrap();
        let adopted = adopt(&tree, &spelling("Bob@x", "bob@x"), ".aside").unwrap();
        assert_eq!(adopted, Adopted::Moved);
        assert_eq!(link(&path.join("Bob@x")), "bob@x", "relative");
        assert_eq!(
            std::fs::read_to_string(path.join("bob@x/in")).unwrap(),
            "hi\n"
        );
        assert!(tree.jid_dirs().unwrap().iter().all(JidDir::is_contact));
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn into_an_existing_directory_only_an_in_is_merged() {
        let (path, tree) = temp_tree("merged");
        std::fs::create_dir_all(path.join("bob@x")).unwrap();
        std::fs::write(path.join("bob@x/out"), "old\n").unwrap();
        // Empty: merged at once.
        std::fs::create_dir(path.join("BOB@x")).unwrap();
        let adopted = adopt(&tree, &spelling("BOB@x", "bob@x"), ".aside").unwrap();
        assert_eq!(adopted, Adopted::Merged { in_file: false });
        assert_eq!(link(&path.join("BOB@x")), "bob@x");
        // A plain `in`: put aside in the normalised directory, to be sent.
        std::fs::create_dir(path.join("Bob@x")).unwrap();
        std::fs::write(path.join("Bob@x/in"), "hi\n").unwrap();
        let adopted = adopt(&tree, &spelling("Bob@x", "bob@x"), ".aside").unwrap();
        assert_eq!(adopted, Adopted::Merged { in_file: true });
        assert_eq!(
            std::fs::read_to_string(path.join("bob@x/.aside")).unwrap(),
            "hi\n"
        );
        assert_eq!(
            std::fs::read_to_string(path.join("bob@x/out")).unwrap(),
            "old\n"
        );
        // Anything else: kept, and the reason says what to do.
        std::fs::create_dir(path.join("bOb@x")).unwrap();
        std::fs::write(path.join("bOb@x/out"), "mine\n").unwrap();
        let adopted = adopt(&tree, &spelling("bOb@x", "bob@x"), ".aside").unwrap();
        assert_eq!(
            adopted,
            Adopted::Kept("it holds out; move that to bob@x and remove bOb@x".to_owned())
        );
        assert!(path.join("bOb@x/out").is_file());
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn a_normalised_name_taken_by_a_file_keeps_the_spelling() {
        let (path, tree) = temp_tree("file");
        std::fs::write(path.join("bob@x"), "").unwrap();
        std::fs::create_dir(path.join("Bob@x")).unwrap();
        let adopted = adopt(&tree, &spelling("Bob@x", "bob@x"), ".aside").unwrap();
        assert_eq!(
            adopted,
            Adopted::Kept("bob@x exists and is not a directory".to_owned())
        );
        std::fs::remove_dir_all(&path).unwrap();
    }
}
