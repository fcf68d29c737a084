//! A file's content type from its extension: the common kinds people send
//! (logs, graphs, screenshots, archives), else `application/octet-stream`.

/// Extensions and their MIME types (lower-case extensions).
const TYPES: &[(&str, &str)] = &[
    ("txt", "text/plain"),
    ("log", "text/plain"),
    ("csv", "text/csv"),
    ("md", "text/markdown"),
    ("html", "text/html"),
    ("json", "application/json"),
    ("xml", "application/xml"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("svg", "image/svg+xml"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("opus", "audio/ogg"),
    ("m4a", "audio/mp4"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("xz", "application/x-xz"),
    ("zst", "application/zstd"),
    ("tar", "application/x-tar"),
];

/// The MIME type for a file name.
pub fn guess(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    extension
        .and_then(|ext| TYPES.iter().find(|(e, _)| *e == ext).map(|(_, t)| *t))
        .unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    #[test]
    fn by_extension_else_octet_stream() {
        assert_eq!(super::guess("graph.PNG"), "image/png");
        assert_eq!(super::guess("backup.tar.gz"), "application/gzip");
        assert_eq!(super::guess("Makefile"), "application/octet-stream");
        assert_eq!(super::guess("x.unknown"), "application/octet-stream");
    }
}
