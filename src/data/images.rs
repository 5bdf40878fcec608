//! Image sources, scanned lightly: the class sub-folders of an image folder and their PNG/JPEG files, or a manifest
//! CSV naming the files. No image is opened or decoded here.

use std::path::{Path, PathBuf};

use crate::data::csv_table::{lowercase_first, not_found, read_csv, single, CsvOptions, Table};
use crate::diagnostics::{unknown_name_help, Diagnostic, Diagnostics};

/// An image folder with one sub-folder per class (`DIR/benign/*.png`, `DIR/malignant/*.png`).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFolder {
    /// The folder scanned.
    pub dir: PathBuf,
    /// The classes holding at least one image, sorted by name.
    pub classes: Vec<ImageClass>,
    /// Warnings found while scanning (empty class folders, which are left out).
    pub warnings: Diagnostics,
}

/// One class of an [`ImageFolder`]: the sub-folder's name and its image files.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageClass {
    /// The class label: the sub-folder's name.
    pub name: String,
    /// The PNG and JPEG files of the sub-folder, sorted.
    pub files: Vec<PathBuf>,
}

/// A manifest CSV listing image files (a `file` column, relative to the image folder) and their target.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The manifest as read.
    pub table: Table,
    /// For each row, the image's path: the image folder joined with the row's `file` value.
    pub files: Vec<PathBuf>,
}

impl ImageFolder {
    /// Number of images over all classes.
    pub fn image_count(&self) -> usize {
        self.classes.iter().map(|class| class.files.len()).sum()
    }
}

/// Whether a path names a PNG or JPEG file, by its extension (`.png`, `.jpg`, `.jpeg`, any case).
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| ["png", "jpg", "jpeg"].iter().any(|known| extension.eq_ignore_ascii_case(known)))
}

/// Lists the class sub-folders of `dir` and the PNG/JPEG files in each. Hidden entries (starting with `.`) and
/// other files are skipped; an empty class folder is left out with a warning.
pub fn scan_image_folder(dir: &Path) -> Result<ImageFolder, Diagnostics> {
    if !dir.exists() {
        return Err(single(not_found(dir, "image folder")));
    }
    if !dir.is_dir() {
        return Err(single(
            Diagnostic::error("data::not_a_folder", format!("`{}` is a file, not a folder of images", dir.display()))
                .at_file(dir)
                .with_help("give the folder that holds one sub-folder of images per class"),
        ));
    }
    let entries = list_folder(dir)?;
    let class_dirs: Vec<&PathBuf> = entries.iter().filter(|entry| entry.is_dir()).collect();
    if class_dirs.is_empty() {
        let loose = entries.iter().filter(|entry| is_image_file(entry)).count();
        return Err(single(
            Diagnostic::error("data::no_class_folders", format!("the image folder has no class sub-folders ({loose} images directly in it)"))
                .at_file(dir)
                .with_help("put each class's images in a sub-folder named after the class (`DIR/benign/1.png`), or list the images and their labels in a manifest CSV (`manifest: labels.csv`)"),
        ));
    }
    let mut folder = ImageFolder { dir: dir.to_path_buf(), classes: Vec::new(), warnings: Diagnostics::new() };
    for class_dir in class_dirs {
        let name = class_dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let files: Vec<PathBuf> =
            list_folder(class_dir)?.into_iter().filter(|file| file.is_file() && is_image_file(file)).collect();
        if files.is_empty() {
            folder.warnings.push(
                Diagnostic::warning(
                    "data::empty_class_folder",
                    format!("the class folder `{name}` holds no PNG or JPEG image and is left out"),
                )
                .at_file(class_dir)
                .with_help("add the class's images to the folder, or remove the folder"),
            );
        } else {
            folder.classes.push(ImageClass { name, files });
        }
    }
    if folder.classes.is_empty() {
        return Err(single(
            Diagnostic::error("data::no_images", "no class folder holds a PNG or JPEG image")
                .at_file(dir)
                .with_help("put the images (`.png`, `.jpg` or `.jpeg`) in one sub-folder per class"),
        ));
    }
    Ok(folder)
}

/// Reads a manifest CSV: it must have a `file` column (paths relative to `dir`) and the `target` column, and
/// every listed file must exist and be a PNG or JPEG file.
pub fn read_manifest(path: &Path, dir: &Path, target: &str, options: &CsvOptions) -> Result<Manifest, Diagnostics> {
    let table = read_csv(path, options)?;
    let mut diagnostics = Diagnostics::new();
    let names: Vec<&str> = table.names().collect();
    for (wanted, role) in [("file", "the image file names"), (target, "the target")] {
        if table.column(wanted).is_none() {
            diagnostics.push(
                Diagnostic::error("data::missing_column", format!("the manifest has no column `{wanted}` ({role})"))
                    .at_data(path, 1, None)
                    .with_help(unknown_name_help(wanted, &names)),
            );
        }
    }
    let Some(file_column) = table.column("file") else {
        return Err(diagnostics);
    };
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let mut files = Vec::with_capacity(table.rows());
    let mut problems = 0;
    for (row, cell) in file_column.iter().enumerate() {
        let line = table.line_of_row(row);
        let problem = match cell {
            None => Some((
                "data::missing_file_name",
                format!("line {line} has no file name"),
                "write the image's file name, relative to the image folder".to_string(),
            )),
            Some(name) => {
                let full = dir.join(name);
                let problem = if !is_image_file(&full) {
                    Some((
                        "data::not_an_image",
                        format!("`{name}` is not a PNG or JPEG file"),
                        "list only `.png`, `.jpg` or `.jpeg` files".to_string(),
                    ))
                } else if !full.is_file() {
                    Some((
                        "data::image_not_found",
                        format!("the image `{name}` was not found: looked for `{}`", full.display()),
                        "check the file name; names in the manifest are relative to the image folder".to_string(),
                    ))
                } else {
                    None
                };
                files.push(full);
                problem
            }
        };
        if let Some((code, message, help)) = problem {
            problems += 1;
            if problems <= MAX_REPORTED {
                diagnostics.push(Diagnostic::error(code, message).at_data(path, line, Some("file")).with_help(help));
            }
        }
    }
    if problems > MAX_REPORTED {
        diagnostics.push(
            Diagnostic::error(
                "data::image_not_found",
                format!("and {} more rows whose image is missing or not an image", problems - MAX_REPORTED),
            )
            .at_file(path)
            .with_help("fix the `file` column of the manifest"),
        );
    }
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    Ok(Manifest { table, files })
}

/// Problems of one kind reported one by one before they are summed up.
const MAX_REPORTED: usize = 10;

/// The non-hidden entries of a folder, sorted.
fn list_folder(dir: &Path) -> Result<Vec<PathBuf>, Diagnostics> {
    let entries = std::fs::read_dir(dir).map_err(|error| {
        single(
            Diagnostic::error(
                "data::unreadable",
                format!("cannot read the folder: {}", lowercase_first(&error.to_string())),
            )
            .at_file(dir)
            .with_help("check that the folder exists and that you may read it"),
        )
    })?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.path())
        .collect();
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder holding empty files at `files` (relative paths).
    fn folder_with(test: &str, files: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("galen-images-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp folder");
        for file in files {
            let path = dir.join(file);
            if file.ends_with('/') {
                std::fs::create_dir_all(&path).expect("class folder");
            } else {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("class folder");
                std::fs::write(&path, b"").expect("file");
            }
        }
        dir
    }

    fn codes(diagnostics: &Diagnostics) -> Vec<&'static str> {
        diagnostics.items.iter().map(|d| d.code).collect()
    }

    #[test]
    fn lists_classes_and_images_sorted() {
        let dir = folder_with(
            "classes",
            &["b/2.PNG", "b/1.jpg", "b/notes.txt", "a/x.jpeg", ".hidden/y.png", "empty/", "readme.md"],
        );
        let folder = scan_image_folder(&dir).expect("scans");
        let names: Vec<&str> = folder.classes.iter().map(|class| class.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(folder.classes[1].files, [dir.join("b/1.jpg"), dir.join("b/2.PNG")]);
        assert_eq!(folder.image_count(), 3);
        assert_eq!(codes(&folder.warnings), ["data::empty_class_folder"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reports_folders_without_classes_or_images() {
        let missing = scan_image_folder(Path::new("/no/such/galen/folder")).expect_err("missing");
        assert_eq!(codes(&missing), ["data::not_found"]);
        let flat = folder_with("flat", &["1.png", "2.png"]);
        let error = scan_image_folder(&flat).expect_err("flat");
        assert_eq!(codes(&error), ["data::no_class_folders"]);
        assert!(error.items[0].message.contains("2 images"));
        let empty = folder_with("empty", &["a/", "b/readme.txt"]);
        let error = scan_image_folder(&empty).expect_err("no images");
        assert_eq!(codes(&error), ["data::no_images"]);
        let file = scan_image_folder(&flat.join("1.png")).expect_err("a file");
        assert_eq!(codes(&file), ["data::not_a_folder"]);
        let _ = std::fs::remove_dir_all(flat);
        let _ = std::fs::remove_dir_all(empty);
    }

    #[test]
    fn reads_a_manifest_and_checks_its_files() {
        let dir = folder_with("manifest", &["img/1.png", "img/2.jpg"]);
        let manifest_path = dir.join("labels.csv");
        let write = |text: &str| std::fs::write(&manifest_path, text).expect("manifest");
        write("file,label\n1.png,benign\n2.jpg,malignant\n");
        let manifest = read_manifest(&manifest_path, &dir.join("img"), "label", &CsvOptions::default());
        let manifest = manifest.expect("reads");
        assert_eq!(manifest.files, [dir.join("img/1.png"), dir.join("img/2.jpg")]);
        write("file,labels\n1.png,benign\n");
        let error = read_manifest(&manifest_path, &dir.join("img"), "label", &CsvOptions::default());
        let error = error.expect_err("no target");
        assert_eq!(codes(&error), ["data::missing_column"]);
        assert_eq!(error.items[0].help.as_deref(), Some("did you mean `labels`?"));
        write("file,label\n1.png,a\n3.png,b\nnotes.txt,a\n,b\n");
        let error = read_manifest(&manifest_path, &dir.join("img"), "label", &CsvOptions::default());
        let error = error.expect_err("bad files");
        assert_eq!(codes(&error), ["data::image_not_found", "data::not_an_image", "data::missing_file_name"]);
        assert!(matches!(error.items[0].location, crate::diagnostics::Location::Data { line: 3, .. }));
        let _ = std::fs::remove_dir_all(dir);
    }
}
