//! The tidy test's scanner: the crate's module tree from `src/lib.rs`, each file's code with comments and literals
//! blanked, its `#[cfg(test)]` items, its tokens and the paths it names (`use` trees included).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::path::Path;

/// The library crate: its files, reached from `src/lib.rs` through `mod` declarations, and its modules.
pub(crate) struct Crate {
    pub(crate) files: Vec<SourceFile>,
    pub(crate) modules: BTreeMap<Vec<String>, Module>,
}

/// A module: whether it is test code, and the names its `use` declarations bind (re-exports included) with the
/// paths they name.
#[derive(Default)]
pub(crate) struct Module {
    pub(crate) test: bool,
    pub(crate) names: BTreeMap<String, Vec<String>>,
}

/// One source file, scanned.
pub(crate) struct SourceFile {
    /// The path from the crate's root, with `/`.
    pub(crate) path: String,
    /// The raw text.
    pub(crate) text: String,
    /// The text with comments and the contents of literals blanked (same length, same lines).
    pub(crate) code: String,
    /// The module the file is: `["backend", "plan"]`; empty for `lib.rs`.
    pub(crate) module: Vec<String>,
    /// Whether the whole file is test code (declared under `#[cfg(test)]`, or inside such a module).
    pub(crate) test: bool,
    /// The `#[cfg(test)]` items of the file.
    pub(crate) test_regions: Vec<Range<usize>>,
    /// The inline modules (`mod names { ... }`): their name, their body and whether they are test code.
    pub(crate) inline_modules: Vec<(String, Range<usize>)>,
    pub(crate) tokens: Vec<Token>,
    pub(crate) paths: Vec<PathRef>,
}

/// A token: an identifier (`$crate` included), `::`, or one other character.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) text: String,
    pub(crate) at: usize,
}

/// A path of two segments or more written in the code, or one a `use` tree names (`self` left out).
#[derive(Clone, Debug)]
pub(crate) struct PathRef {
    pub(crate) segments: Vec<String>,
    pub(crate) at: usize,
    /// For a path of a `use` tree: the name it binds (the last segment, or the `as` name; `None` for a glob).
    pub(crate) binds: Option<String>,
    /// Whether it is a re-export (`pub use`, `pub(crate) use`).
    pub(crate) public: bool,
}

impl std::fmt::Display for PathRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.segments.join("::"))
    }
}

pub(crate) trait StartsWithStr {
    fn starts_with_str(&self, prefix: &[&str]) -> bool;
}

impl StartsWithStr for Vec<String> {
    fn starts_with_str(&self, prefix: &[&str]) -> bool {
        self.len() >= prefix.len() && self.iter().zip(prefix).all(|(segment, wanted)| segment == wanted)
    }
}

impl Crate {
    /// The crate whose files are `files` (path from the crate root → text), from `src/lib.rs`.
    pub(crate) fn load(files: &BTreeMap<String, String>) -> Crate {
        let mut krate = Crate { files: Vec::new(), modules: BTreeMap::new() };
        let mut queue = VecDeque::from([("src/lib.rs".to_string(), Vec::new(), false)]);
        while let Some((path, module, test)) = queue.pop_front() {
            let Some(text) = files.get(&path) else { continue };
            let file = SourceFile::scan(&path, text, module.clone(), test);
            krate.modules.entry(module.clone()).or_default().test = file.test;
            for (name, range) in &file.inline_modules {
                let mut inner = file.module_at(range.start);
                inner.push(name.clone());
                krate.modules.entry(inner).or_default().test = file.test || file.in_test(range.start);
            }
            for (name, at) in file.declared_modules() {
                let mut child = module.clone();
                child.push(name.clone());
                let test = file.test || file.in_test(at);
                let dir = match path.rsplit_once('/') {
                    Some((dir, "lib.rs" | "main.rs" | "mod.rs")) => dir.to_string(),
                    _ => path.trim_end_matches(".rs").to_string(),
                };
                let flat = format!("{dir}/{name}.rs");
                let nested = format!("{dir}/{name}/mod.rs");
                let child_path = if files.contains_key(&flat) { flat } else { nested };
                queue.push_back((child_path, child, test));
            }
            for path_ref in &file.paths {
                let Some(name) = &path_ref.binds else { continue };
                if file.in_test(path_ref.at) || name == "_" {
                    continue;
                }
                let at = file.module_at(path_ref.at);
                krate.modules.entry(at).or_default().names.insert(name.clone(), path_ref.segments.clone());
            }
            krate.files.push(file);
        }
        krate
    }

    pub(crate) fn file(&self, path: &str) -> Option<&SourceFile> {
        self.files.iter().find(|file| file.path == path)
    }

    /// The crate's module a path written in module `from` names (the deepest module it goes through, following
    /// re-exports), or `None` for a path outside the crate.
    pub(crate) fn resolve(&self, from: &[String], segments: &[String]) -> Option<Vec<String>> {
        self.resolve_depth(from, segments, 0)
    }

    pub(crate) fn resolve_depth(&self, from: &[String], segments: &[String], depth: usize) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        let names = |module: &[String], name: &str| self.modules.get(module).and_then(|found| found.names.get(name));
        let mut module: Vec<String> = match first.as_str() {
            "crate" | "$crate" => Vec::new(),
            "self" => from.to_vec(),
            "super" => from.get(..from.len().checked_sub(1)?)?.to_vec(),
            name => {
                let child = [from, &[name.to_string()]].concat();
                if self.modules.contains_key(&child) {
                    child
                } else if let Some(target) = names(from, name).filter(|_| depth < 8) {
                    return self.resolve_depth(from, &[target.as_slice(), rest].concat(), depth + 1);
                } else {
                    return None;
                }
            }
        };
        for (position, segment) in rest.iter().enumerate() {
            if segment == "super" {
                module.pop()?;
                continue;
            }
            let child = [module.as_slice(), std::slice::from_ref(segment)].concat();
            if self.modules.contains_key(&child) {
                module = child;
                continue;
            }
            if let Some(target) = names(&module, segment).filter(|_| depth < 8) {
                let path = [target.as_slice(), &rest[position + 1..]].concat();
                return self.resolve_depth(&module, &path, depth + 1).or(Some(module));
            }
            break;
        }
        Some(module)
    }
}

impl SourceFile {
    pub(crate) fn scan(path: &str, text: &str, module: Vec<String>, test: bool) -> SourceFile {
        let code = blank(text).code;
        let test_regions = test_regions(&code);
        let test = test || code.contains("#![cfg(test)]");
        let tokens = tokens(&code);
        let paths = paths(&tokens);
        let mut file = SourceFile {
            path: path.to_string(),
            text: text.to_string(),
            code,
            module,
            test,
            test_regions,
            inline_modules: Vec::new(),
            tokens,
            paths,
        };
        file.inline_modules = file.module_blocks();
        file
    }

    /// `file:line`.
    pub(crate) fn place(&self, at: usize) -> String {
        format!("{}:{}", self.path, line_of(&self.text, at))
    }

    pub(crate) fn in_test(&self, at: usize) -> bool {
        self.test || self.test_regions.iter().any(|region| region.contains(&at))
    }

    /// Where `pattern` occurs in the code (comments and literals blanked), not as the tail of a longer name.
    pub(crate) fn find(&self, pattern: &str) -> Vec<usize> {
        self.code
            .match_indices(pattern)
            .map(|(at, _)| at)
            .filter(|&at| pattern.starts_with('.') || at == 0 || !is_ident_byte(self.code.as_bytes()[at - 1]))
            .collect()
    }

    /// The module a byte of the file is in: the file's, and the inline modules around it.
    pub(crate) fn module_at(&self, at: usize) -> Vec<String> {
        let mut module = self.module.clone();
        for (name, range) in &self.inline_modules {
            if range.contains(&at) {
                module.push(name.clone());
            }
        }
        module
    }

    /// The `mod name;` declarations: each name and where it is.
    pub(crate) fn declared_modules(&self) -> Vec<(String, usize)> {
        let tokens = &self.tokens;
        (0..tokens.len().saturating_sub(2))
            .filter(|&index| tokens[index].text == "mod" && tokens[index + 2].text == ";")
            .map(|index| (tokens[index + 1].text.clone(), tokens[index].at))
            .collect()
    }

    /// The `mod name { ... }` blocks, outermost first.
    pub(crate) fn module_blocks(&self) -> Vec<(String, Range<usize>)> {
        let tokens = &self.tokens;
        (0..tokens.len().saturating_sub(2))
            .filter(|&index| tokens[index].text == "mod" && tokens[index + 2].text == "{")
            .map(|index| {
                let open = tokens[index + 2].at;
                (tokens[index + 1].text.clone(), open..matching(self.code.as_bytes(), open, b'{', b'}'))
            })
            .collect()
    }

    /// The text range of the first function named `name` (signature and body).
    pub(crate) fn function(&self, name: &str) -> Option<Range<usize>> {
        let tokens = &self.tokens;
        let index = (0..tokens.len().saturating_sub(1))
            .find(|&index| tokens[index].text == "fn" && tokens[index + 1].text == name)?;
        let start = tokens[index].at;
        Some(start..item_end(&self.code, start))
    }
}

/// A source text with every comment and the contents of every string and char literal blanked, and the string
/// literals' contents with the place of their opening quote.
pub(crate) struct Blanked {
    pub(crate) code: String,
    pub(crate) strings: Vec<(usize, String)>,
}

/// Blanks comments and literals. Newlines stay, so places and line numbers are the text's.
pub(crate) fn blank(text: &str) -> Blanked {
    let bytes = text.as_bytes();
    let mut code = bytes.to_vec();
    let mut strings = Vec::new();
    let clear = |code: &mut Vec<u8>, range: Range<usize>| {
        for byte in &mut code[range] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    };
    let mut index = 0;
    while index < bytes.len() {
        let rest = &bytes[index..];
        let after_name = index > 0 && is_ident_byte(bytes[index - 1]);
        if rest.starts_with(b"//") {
            let end = text[index..].find('\n').map_or(bytes.len(), |offset| index + offset);
            clear(&mut code, index..end);
            index = end;
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            let mut end = index;
            while end < bytes.len() {
                if bytes[end..].starts_with(b"/*") {
                    depth += 1;
                    end += 2;
                } else if bytes[end..].starts_with(b"*/") {
                    depth -= 1;
                    end += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    end += 1;
                }
            }
            clear(&mut code, index..end);
            index = end;
        } else if let (false, Some((open, hashes))) = (after_name, raw_string(rest)) {
            let body = index + open;
            let closing: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let end = bytes[body..].windows(closing.len()).position(|window| window == closing.as_slice());
            let end = end.map_or(bytes.len(), |offset| body + offset);
            strings.push((body - 1, text[body..end].to_string()));
            clear(&mut code, body..end);
            index = (end + closing.len()).min(bytes.len());
        } else if bytes[index] == b'"' {
            let mut end = index + 1;
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = end.min(bytes.len());
            strings.push((index, text[index + 1..end].to_string()));
            clear(&mut code, index + 1..end);
            index = end + 1;
        } else if bytes[index] == b'\'' {
            if rest.get(1) == Some(&b'\\') {
                let end =
                    bytes[index + 3..].iter().position(|&byte| byte == b'\'').map_or(bytes.len(), |o| index + 3 + o);
                clear(&mut code, index + 1..end);
                index = end + 1;
            } else {
                let width = text[index + 1..].chars().next().map_or(0, char::len_utf8);
                if bytes.get(index + 1 + width) == Some(&b'\'') {
                    clear(&mut code, index + 1..index + 1 + width);
                    index += width + 2;
                } else {
                    index += 1;
                }
            }
        } else {
            index += 1;
        }
    }
    Blanked { code: String::from_utf8(code).expect("blanking keeps UTF-8"), strings }
}

/// For text starting a raw string (`r"`, `r#"`, `br"`...): where its contents start and how many `#` close it.
pub(crate) fn raw_string(rest: &[u8]) -> Option<(usize, usize)> {
    let after_b = if rest.first() == Some(&b'b') { 1 } else { 0 };
    if rest.get(after_b) != Some(&b'r') {
        return None;
    }
    let hashes = rest[after_b + 1..].iter().take_while(|&&byte| byte == b'#').count();
    (rest.get(after_b + 1 + hashes) == Some(&b'"')).then_some((after_b + hashes + 2, hashes))
}

pub(crate) fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// The `#[cfg(test)]` items of blanked code: each from its attribute to the end of the item.
pub(crate) fn test_regions(code: &str) -> Vec<Range<usize>> {
    const ATTRIBUTE: &str = "#[cfg(test)]";
    code.match_indices(ATTRIBUTE).map(|(at, _)| at..item_end(code, at + ATTRIBUTE.len())).collect()
}

/// The end of the item starting at `from` (its attributes included): after its `;` or its closing brace.
pub(crate) fn item_end(code: &str, from: usize) -> usize {
    let bytes = code.as_bytes();
    let mut depth = 0usize;
    for index in from..bytes.len() {
        match bytes[index] {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1),
            b';' if depth == 0 => return index + 1,
            b'{' if depth == 0 => return matching(bytes, index, b'{', b'}'),
            _ => {}
        }
    }
    bytes.len()
}

/// The place just after the bracket closing the one at `open`.
pub(crate) fn matching(bytes: &[u8], open: usize, opening: u8, closing: u8) -> usize {
    let mut depth = 0usize;
    for (index, &byte) in bytes.iter().enumerate().skip(open) {
        if byte == opening {
            depth += 1;
        } else if byte == closing {
            depth -= 1;
            if depth == 0 {
                return index + 1;
            }
        }
    }
    bytes.len()
}

/// The tokens of blanked code.
pub(crate) fn tokens(code: &str) -> Vec<Token> {
    let bytes = code.as_bytes();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte.is_ascii_whitespace() {
            index += 1;
        } else if is_ident_byte(byte) || (byte == b'$' && bytes.get(index + 1).is_some_and(|&next| is_ident_byte(next)))
        {
            let end = (index + 1..bytes.len()).find(|&end| !is_ident_byte(bytes[end])).unwrap_or(bytes.len());
            tokens.push(Token { text: code[index..end].to_string(), at: index });
            index = end;
        } else if bytes[index..].starts_with(b"::") {
            tokens.push(Token { text: "::".into(), at: index });
            index += 2;
        } else {
            let width = code[index..].chars().next().map_or(1, char::len_utf8);
            tokens.push(Token { text: code[index..index + width].to_string(), at: index });
            index += width;
        }
    }
    tokens
}

pub(crate) fn is_name(token: &Token) -> bool {
    let first = token.text.as_bytes()[0];
    (first.is_ascii_alphabetic() || first == b'_' || first == b'$') && token.text != "as"
}

/// Every path of the code: those of `use` trees and those of two segments or more elsewhere.
pub(crate) fn paths(tokens: &[Token]) -> Vec<PathRef> {
    let mut paths = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        if tokens[index].text == "use" {
            let public = index > 0
                && (tokens[index - 1].text == "pub"
                    || (tokens[index - 1].text == ")" && index >= 4 && tokens[index - 4].text == "pub"));
            let first = paths.len();
            index += 1;
            use_tree(tokens, &mut index, Vec::new(), &mut paths);
            for path in &mut paths[first..] {
                path.public = public;
            }
            while index < tokens.len() && tokens[index].text != ";" {
                index += 1;
            }
            continue;
        }
        let starts = is_name(&tokens[index])
            && tokens.get(index + 1).is_some_and(|next| next.text == "::")
            && (index == 0 || tokens[index - 1].text != "::");
        if starts {
            let at = tokens[index].at;
            let mut segments = vec![tokens[index].text.clone()];
            index += 1;
            while index + 1 < tokens.len() && tokens[index].text == "::" && is_name(&tokens[index + 1]) {
                segments.push(tokens[index + 1].text.clone());
                index += 2;
            }
            paths.push(PathRef { segments, at, binds: None, public: false });
            continue;
        }
        index += 1;
    }
    paths
}

/// Reads one `use` tree (after `use`, or inside braces) into the paths it names, each with the name it binds.
pub(crate) fn use_tree(tokens: &[Token], index: &mut usize, prefix: Vec<String>, found: &mut Vec<PathRef>) {
    let mut path = prefix;
    if tokens.get(*index).is_some_and(|token| token.text == "::") {
        *index += 1;
    }
    while let Some(token) = tokens.get(*index) {
        match token.text.as_str() {
            "{" => {
                *index += 1;
                while tokens.get(*index).is_some_and(|token| token.text != "}") {
                    use_tree(tokens, index, path.clone(), found);
                    if tokens.get(*index).is_some_and(|token| token.text == ",") {
                        *index += 1;
                    }
                }
                *index += 1;
                return;
            }
            "*" => {
                *index += 1;
                path.push("*".into());
                found.push(PathRef { segments: path, at: token.at, binds: None, public: false });
                return;
            }
            _ if is_name(token) => {
                *index += 1;
                let mut binds = Some(token.text.clone());
                if token.text != "self" || path.is_empty() {
                    path.push(token.text.clone());
                } else {
                    binds = path.last().cloned();
                }
                if tokens.get(*index).is_some_and(|next| next.text == "::") {
                    *index += 1;
                    continue;
                }
                if tokens.get(*index).is_some_and(|next| next.text == "as") {
                    binds = tokens.get(*index + 1).map(|alias| alias.text.clone());
                    *index += 2;
                }
                found.push(PathRef { segments: path, at: token.at, binds, public: false });
                return;
            }
            _ => {
                *index += 1;
                return;
            }
        }
    }
}

/// The 1-based line of a byte of `text`.
pub(crate) fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&byte| byte == b'\n').count() + 1
}

/// Whether a path is under one of `roots` (a folder ending in `/`, or a file).
pub(crate) fn under(path: &str, roots: &[&str]) -> bool {
    roots.iter().any(|root| if root.ends_with('/') { path.starts_with(root) } else { path == *root })
}

/// Every `.rs` file under the given folders of the crate root, by path from the root (with `/`).
pub(crate) fn read_tree(roots: &[&str]) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut queue: Vec<std::path::PathBuf> = roots.iter().map(|root| Path::new(root).to_path_buf()).collect();
    while let Some(dir) = queue.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let name = path.to_string_lossy().replace('\\', "/");
            if path.is_dir() {
                if !name.ends_with("/target") {
                    queue.push(path);
                }
            } else if name.ends_with(".rs") {
                files.insert(name, std::fs::read_to_string(&path).expect("a source file reads"));
            }
        }
    }
    files
}
