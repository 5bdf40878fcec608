//! The spec stage: source text (DSL or YAML) to a generic tree, then to the typed AST.

pub mod ast;
pub mod convert;
pub mod dsl;
pub mod json_schema;
pub mod lower;
pub mod tree;
pub mod yaml;

/// The two written forms of a spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `.yaml` / `.yml`, read with serde_yaml.
    Yaml,
    /// `.galen`, the DSL of `grammar/galen.pest`.
    Dsl,
}

use std::path::{Path, PathBuf};

use crate::diagnostics::{Diagnostic, Diagnostics};

impl Form {
    /// The form a file's extension names: `.galen`, `.yaml` or `.yml`.
    pub fn from_path(path: &Path) -> Option<Form> {
        match path.extension().and_then(|extension| extension.to_str()) {
            Some("galen") => Some(Form::Dsl),
            Some("yaml" | "yml") => Some(Form::Yaml),
            _ => None,
        }
    }

    /// The form's name as `galen convert --to` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Form::Yaml => "yaml",
            Form::Dsl => "galen",
        }
    }
}

/// A spec file read into memory.
#[derive(Clone, Debug)]
pub struct SpecFile {
    /// The path as given.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// Its form, from the extension.
    pub form: Form,
}

impl SpecFile {
    /// Reads a spec file; a missing or unreadable file, an unknown extension or non-UTF-8 text is an error.
    pub fn read(path: &Path) -> Result<SpecFile, Diagnostic> {
        let Some(form) = Form::from_path(path) else {
            let help = match path.extension().and_then(|extension| extension.to_str()) {
                Some(extension) if extension.eq_ignore_ascii_case("json") => {
                    let renamed = path.with_extension("yaml");
                    let renamed = renamed.file_name().map_or("model.yaml".into(), |name| name.to_string_lossy());
                    format!("JSON is valid YAML: rename the file to `{renamed}`")
                }
                _ => "rename the file, for example to `model.galen` or `model.yaml`".to_string(),
            };
            return Err(Diagnostic::error(
                "spec::extension",
                "a spec file must end in `.galen` (the spec language) or `.yaml` / `.yml`",
            )
            .at_file(path)
            .with_help(help));
        };
        let bytes = std::fs::read(path).map_err(|error| {
            let message = match error.kind() {
                std::io::ErrorKind::NotFound => "no such spec file".to_string(),
                _ => format!("cannot read the spec file: {}", error.to_string().to_lowercase()),
            };
            Diagnostic::error("spec::not_found", message).at_file(path).with_help("check the path")
        })?;
        let text = String::from_utf8(bytes).map_err(|error| {
            let (line, _) = crate::diagnostics::line_column(
                &String::from_utf8_lossy(error.as_bytes()),
                error.utf8_error().valid_up_to(),
            );
            Diagnostic::error("spec::encoding", format!("the spec file is not UTF-8 text (line {line})"))
                .at_file(path)
                .with_help("save the file as UTF-8")
        })?;
        Ok(SpecFile { path: path.to_path_buf(), text, form })
    }

    /// The experiment's default name: the file stem.
    pub fn stem(&self) -> String {
        self.path.file_stem().map_or("experiment".to_string(), |stem| stem.to_string_lossy().into_owned())
    }

    /// The folder that relative paths inside the spec start from.
    pub fn dir(&self) -> PathBuf {
        self.path.parent().map_or(PathBuf::from("."), Path::to_path_buf)
    }

    /// Parses and lowers the spec; `None` after a syntax error.
    pub fn parse(&self, diagnostics: &mut Diagnostics) -> Option<lower::Lowered> {
        let tree = match self.form {
            Form::Dsl => dsl::parse(&self.text, diagnostics)?,
            Form::Yaml => yaml::parse(&self.text, diagnostics)?,
        };
        Some(lower::lower(&tree, self.form, &self.stem(), diagnostics))
    }
}
