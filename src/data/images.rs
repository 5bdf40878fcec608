//! Image sources: the class sub-folders of an image folder and their PNG/JPEG files, or a manifest CSV naming the
//! files, scanned without opening any image; and [`load_images`], which decodes the files into rows of pixels.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageBuffer, ImageError, ImageReader, Pixel};
use ndarray::Array2;

use crate::data::csv_read::{lowercase_first, not_found, read_csv, single, CsvOptions};
use crate::data::table::Table;
use crate::diagnostics::{unknown_name_help, Diagnostic, Diagnostics};
use crate::spec::ast::Color;

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
                "this row has no file name".to_string(),
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

/// Decodes image files into a matrix with one row per file, in the order given.
///
/// Each row holds `size[0] * size[1] * channels` values in row-major (height, width, channel) order, scaled from
/// 0..255 to [0, 1]. Every image is converted to 8-bit grayscale or RGB (`color`; an alpha channel is dropped) and
/// resized to `size` (`[height, width]`) with a triangle filter when its size differs, so the same files always give
/// the same numbers. Every file that cannot be read or decoded is reported, by name, before giving up.
pub fn load_images(files: &[PathBuf], size: [usize; 2], color: Color) -> Result<Array2<f32>, Diagnostics> {
    let (width, height, per_image) = image_geometry(size, color)?;
    let too_many = || {
        single(
            Diagnostic::error(
                "data::images_too_large",
                format!("{} images of {per_image} values each do not fit in memory", files.len()),
            )
            .with_help("choose a smaller `size`, or use fewer images"),
        )
    };
    let total = per_image.checked_mul(files.len()).ok_or_else(too_many)?;
    let mut values: Vec<f32> = Vec::new();
    values.try_reserve_exact(total).map_err(|_| too_many())?;
    let mut diagnostics = Diagnostics::new();
    let mut problems = 0;
    for file in files {
        match decode_image(file, width, height, color) {
            Ok(pixels) if problems == 0 => values.extend(pixels.iter().map(|&pixel| f32::from(pixel) / 255.0)),
            Ok(_) => {}
            Err(diagnostic) => {
                problems += 1;
                if problems <= MAX_REPORTED {
                    diagnostics.push(*diagnostic);
                }
            }
        }
    }
    if problems > MAX_REPORTED {
        diagnostics.push(
            Diagnostic::error(
                "data::unreadable_image",
                format!("and {} more images that cannot be read or decoded", problems - MAX_REPORTED),
            )
            .with_help("fix or remove the images listed above, then check the rest again"),
        );
    }
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    Array2::from_shape_vec((files.len(), per_image), values).map_err(|error| {
        single(Diagnostic::error("data::internal", format!("the decoded images do not form a matrix: {error}")))
    })
}

/// The target width and height as the `image` crate wants them, and the number of values per image; a size that
/// is zero or too large is an error rather than a panic.
fn image_geometry(size: [usize; 2], color: Color) -> Result<(u32, u32, usize), Diagnostics> {
    let [height, width] = size;
    let fits = |side: usize| u32::try_from(side).ok().filter(|&side| side > 0);
    let per_image = height.checked_mul(width).and_then(|pixels| pixels.checked_mul(color.channels()));
    match (fits(width), fits(height), per_image) {
        (Some(width), Some(height), Some(per_image)) => Ok((width, height, per_image)),
        _ => Err(single(
            Diagnostic::error("data::image_size", format!("cannot resize images to {height} x {width} pixels"))
                .with_help("give `size` as [height, width] with both sides at least 1, such as `size=[64, 64]`"),
        )),
    }
}

/// Reads, decodes, converts and resizes one image; the bytes are in (height, width, channel) order.
fn decode_image(path: &Path, width: u32, height: u32, color: Color) -> Result<Vec<u8>, Box<Diagnostic>> {
    let unreadable = |error: std::io::Error| -> Box<Diagnostic> {
        Box::new(
            Diagnostic::error(
                "data::unreadable_image",
                format!("cannot read the image: {}", lowercase_first(&error.to_string())),
            )
            .at_file(path)
            .with_help("check that the file exists and that you may read it"),
        )
    };
    let reader = ImageReader::open(path).map_err(unreadable)?.with_guessed_format().map_err(unreadable)?;
    let image = reader.decode().map_err(|error| Box::new(decode_error(path, &error)))?;
    Ok(match color {
        Color::Grayscale => resized(DynamicImage::to_luma8(&image), width, height),
        Color::Rgb => resized(DynamicImage::to_rgb8(&image), width, height),
    })
}

/// The image's bytes at `width` x `height`: unchanged when it already has that size.
fn resized<P: Pixel<Subpixel = u8> + 'static>(image: ImageBuffer<P, Vec<u8>>, width: u32, height: u32) -> Vec<u8> {
    if image.dimensions() == (width, height) {
        image.into_raw()
    } else {
        image::imageops::resize(&image, width, height, FilterType::Triangle).into_raw()
    }
}

/// The diagnostic for an image the decoder refused, by kind of failure.
fn decode_error(path: &Path, error: &ImageError) -> Diagnostic {
    let detail = lowercase_first(&error.to_string());
    let (code, message, help) = match error {
        ImageError::Unsupported(_) => (
            "data::unsupported_image",
            format!("the image format is not supported: {detail}"),
            "save the image as PNG or JPEG",
        ),
        ImageError::Limits(_) => (
            "data::image_too_large",
            format!("the image is too large to decode: {detail}"),
            "shrink the image before using it; galen resizes every image to `size` anyway",
        ),
        ImageError::IoError(_) => (
            "data::unreadable_image",
            format!("cannot read the image: {detail}"),
            "check that the file is complete and that you may read it",
        ),
        _ => (
            "data::corrupt_image",
            format!("cannot decode the image: {detail}"),
            "the file is damaged or is not really a PNG or JPEG image: open it in an image viewer, save it again \
             as PNG, or remove it",
        ),
    };
    Diagnostic::error(code, message).at_file(path).with_help(help)
}

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

    /// Writes an 8-bit image to `path`, in the format its extension names.
    fn write_image(path: &Path, width: u32, height: u32, color: image::ExtendedColorType, bytes: &[u8]) {
        image::save_buffer(path, bytes, width, height, color).expect("writes the image");
    }

    fn row(matrix: &Array2<f32>, index: usize) -> Vec<f32> {
        matrix.row(index).to_vec()
    }

    #[test]
    fn decodes_grayscale_and_rgb_pngs_scaled_to_unit_range() {
        let dir = folder_with("decode", &[]);
        let gray = dir.join("gray.png");
        // Three pixels wide, two high: row-major order is the order of the bytes.
        write_image(&gray, 3, 2, image::ExtendedColorType::L8, &[0, 51, 102, 153, 204, 255]);
        let rgb = dir.join("rgb.png");
        write_image(&rgb, 2, 1, image::ExtendedColorType::Rgb8, &[255, 0, 0, 0, 0, 255]);
        let matrix = load_images(std::slice::from_ref(&gray), [2, 3], Color::Grayscale).expect("decodes");
        assert_eq!(matrix.dim(), (1, 6));
        assert_eq!(row(&matrix, 0), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let matrix = load_images(&[rgb.clone(), rgb.clone()], [1, 2], Color::Rgb).expect("decodes");
        assert_eq!(matrix.dim(), (2, 6));
        assert_eq!(row(&matrix, 1), [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        // Grayscale from colour weighs the channels (Rec. 709 luma): pure red is dark, pure blue darker still.
        let matrix = load_images(&[rgb], [1, 2], Color::Grayscale).expect("decodes");
        let (red, blue) = (matrix[[0, 0]], matrix[[0, 1]]);
        assert!((red - 0.2126).abs() < 0.01 && (blue - 0.0722).abs() < 0.01, "{red} {blue}");
        // A grayscale image read as RGB repeats its value in every channel.
        let matrix = load_images(&[gray], [2, 3], Color::Rgb).expect("decodes");
        assert_eq!(matrix.row(0).iter().skip(3).take(3).copied().collect::<Vec<_>>(), [0.2, 0.2, 0.2]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn resizes_to_the_requested_size() {
        let dir = folder_with("resize", &[]);
        let flat = dir.join("flat.png");
        write_image(&flat, 4, 4, image::ExtendedColorType::L8, &[100; 16]);
        let matrix = load_images(&[flat], [2, 2], Color::Grayscale).expect("decodes");
        assert_eq!(row(&matrix, 0), [100.0 / 255.0; 4]);
        let ramp = dir.join("ramp.png");
        write_image(&ramp, 2, 2, image::ExtendedColorType::L8, &[0, 255, 0, 255]);
        let matrix = load_images(&[ramp], [3, 5], Color::Grayscale).expect("decodes");
        assert_eq!(matrix.dim(), (1, 15));
        assert!(matrix.iter().all(|value| (0.0..=1.0).contains(value)));
        // The left column stays dark and the right one bright: the picture is stretched, not transposed.
        assert!(matrix[[0, 0]] < 0.5 && matrix[[0, 4]] > 0.5 && matrix[[0, 10]] < 0.5);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn decodes_jpeg_by_content_not_extension() {
        let dir = folder_with("jpeg", &[]);
        let jpeg = dir.join("photo.jpg");
        let pixels: Vec<u8> = [200, 100, 50].repeat(64);
        write_image(&jpeg, 8, 8, image::ExtendedColorType::Rgb8, &pixels);
        // A PNG saved under a `.jpg` name is still decoded: the format is read from the file's first bytes.
        let disguised = dir.join("scan.jpg");
        let png = dir.join("scan.png");
        write_image(&png, 8, 8, image::ExtendedColorType::Rgb8, &pixels);
        std::fs::rename(&png, &disguised).expect("renames");
        let matrix = load_images(&[jpeg, disguised], [8, 8], Color::Rgb).expect("decodes");
        for (index, expected) in [200.0f32, 100.0, 50.0].into_iter().enumerate() {
            let value = matrix[[0, 3 * 27 + index]] * 255.0;
            assert!((value - expected).abs() <= 3.0, "jpeg channel {index}: {value}");
            assert_eq!(matrix[[1, 3 * 27 + index]] * 255.0, expected);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reports_every_unreadable_image_by_name() {
        let dir = folder_with("corrupt", &[]);
        let good = dir.join("good.png");
        write_image(&good, 1, 1, image::ExtendedColorType::L8, &[7]);
        let broken = dir.join("broken.png");
        std::fs::write(&broken, b"\x89PNG\r\n\x1a\n but then nothing").expect("writes");
        let text = dir.join("notes.jpg");
        std::fs::write(&text, b"not an image at all").expect("writes");
        let missing = dir.join("missing.png");
        let error = load_images(&[good.clone(), broken.clone(), text.clone(), missing.clone()], [1, 1], Color::Rgb);
        let error = error.expect_err("three bad files");
        assert_eq!(error.error_count(), 3);
        for (diagnostic, file) in error.items.iter().zip([&broken, &text, &missing]) {
            assert_eq!(diagnostic.location, crate::diagnostics::Location::File(file.clone()));
            assert!(diagnostic.help.is_some());
        }
        assert_eq!(codes(&error)[2], "data::unreadable_image");
        let many: Vec<PathBuf> = (0..13).map(|_| broken.clone()).collect();
        let error = load_images(&many, [1, 1], Color::Grayscale).expect_err("thirteen bad files");
        assert_eq!(error.items.len(), 11);
        assert_eq!(error.items[10].message, "and 3 more images that cannot be read or decoded");
        let error = load_images(std::slice::from_ref(&good), [0, 4], Color::Grayscale).expect_err("zero height");
        assert_eq!(codes(&error), ["data::image_size"]);
        let empty = load_images(&[], [2, 2], Color::Rgb).expect("no files, no rows");
        assert_eq!(empty.dim(), (0, 12));
        let _ = std::fs::remove_dir_all(dir);
    }
}
