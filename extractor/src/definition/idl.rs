//! ROS 2 `ros2idl` definitions: one `IDL: pkg/msg/Type` section per file,
//! each the OMG IDL that rosidl generates from a `.msg` (or that a package
//! ships instead of one).
//!
//! Only the subset rosidl writes is read: nested `module`s, `struct`s,
//! `typedef T name[N];` (how fixed arrays are spelled), `const`s and
//! `_Constants` modules (skipped), annotations (`@default (value=0)`,
//! `@verbatim (...)`: skipped), `#include` lines (the other sections),
//! `sequence<T>` / `sequence<T, N>`, `string` / `string<N>`, scoped names
//! `pkg::msg::Type`, and the IDL primitives. `wstring` and `wchar` make the
//! definition unusable, as in `.msg` text.

use std::collections::HashMap;
use std::sync::Arc;

use super::{
    Arity, Field, FieldType, MAX_FIXED_ARRAY_LEN, MAX_NESTING_DEPTH, MessageType, Primitive,
    check_expansion, is_separator,
};
use crate::error::{Error, Result};

/// A struct member as written, before type names are resolved.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    ty: IdlType,
    arity: Arity,
}

/// A member's element type.
#[derive(Debug, Clone)]
enum IdlType {
    Primitive(Primitive, Option<usize>),
    /// A scoped name (`pkg::msg::Type` or a typedef's name).
    Named(Vec<String>),
}

/// A typedef: a name for a type with a fixed array length.
#[derive(Debug, Clone)]
struct Typedef {
    ty: IdlType,
    arity: Arity,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Number(String),
    Str,
    Punct(char),
    Scope,
}

fn tokenize(text: &str) -> std::result::Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            // Preprocessor lines (`#include`): the other sections.
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= bytes.len() {
                    return Err("a string literal is not closed".to_string());
                }
                i += 1;
                out.push(Token::Str);
            }
            b':' if bytes.get(i + 1) == Some(&b':') => {
                out.push(Token::Scope);
                i += 2;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                out.push(Token::Ident(text[start..i].to_string()));
            }
            c if c.is_ascii_digit() || c == b'-' || c == b'.' => {
                let start = i;
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
                out.push(Token::Number(text[start..i].to_string()));
            }
            c => {
                out.push(Token::Punct(c as char));
                i += 1;
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    structs: HashMap<String, Vec<Member>>,
    typedefs: HashMap<String, Typedef>,
    scope: Vec<String>,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> std::result::Result<Token, String> {
        let t = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| "the IDL text ends too early".to_string())?;
        self.pos += 1;
        Ok(t)
    }

    fn expect(&mut self, c: char) -> std::result::Result<(), String> {
        match self.next()? {
            Token::Punct(p) if p == c => Ok(()),
            t => Err(format!("expected `{c}`, found {t:?}")),
        }
    }

    fn ident(&mut self) -> std::result::Result<String, String> {
        match self.next()? {
            Token::Ident(s) => Ok(s),
            t => Err(format!("expected a name, found {t:?}")),
        }
    }

    /// Skips `@name` or `@name (...)`.
    fn skip_annotations(&mut self) -> std::result::Result<(), String> {
        while self.peek() == Some(&Token::Punct('@')) {
            self.pos += 1;
            self.ident()?;
            if self.peek() == Some(&Token::Punct('(')) {
                let mut depth = 0usize;
                loop {
                    match self.next()? {
                        Token::Punct('(') => depth += 1,
                        Token::Punct(')') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Skips to the `;` that ends the current declaration.
    fn skip_declaration(&mut self) -> std::result::Result<(), String> {
        while self.next()? != Token::Punct(';') {}
        Ok(())
    }

    fn definitions(&mut self, until_close: bool) -> std::result::Result<(), String> {
        loop {
            self.skip_annotations()?;
            match self.peek() {
                None if !until_close => return Ok(()),
                None => return Err("a module is not closed".to_string()),
                Some(Token::Punct('}')) if until_close => {
                    self.pos += 1;
                    if self.peek() == Some(&Token::Punct(';')) {
                        self.pos += 1;
                    }
                    return Ok(());
                }
                _ => {}
            }
            let keyword = self.ident()?;
            match keyword.as_str() {
                "module" => {
                    let name = self.ident()?;
                    self.expect('{')?;
                    if self.scope.len() >= MAX_NESTING_DEPTH {
                        return Err("modules nest too deep".to_string());
                    }
                    self.scope.push(name);
                    self.definitions(true)?;
                    self.scope.pop();
                }
                "struct" => self.structure()?,
                "typedef" => {
                    let (ty, arity, name) = self.declared()?;
                    self.expect(';')?;
                    let full = self.scoped(&name);
                    self.typedefs.insert(full, Typedef { ty, arity });
                }
                "const" | "enum" | "union" => self.skip_declaration()?,
                other => return Err(format!("unexpected `{other}` in IDL")),
            }
        }
    }

    fn scoped(&self, name: &str) -> String {
        let mut parts = self.scope.clone();
        parts.push(name.to_string());
        parts.join("::")
    }

    fn structure(&mut self) -> std::result::Result<(), String> {
        let name = self.ident()?;
        self.expect('{')?;
        let mut members = Vec::new();
        loop {
            self.skip_annotations()?;
            if self.peek() == Some(&Token::Punct('}')) {
                self.pos += 1;
                self.expect(';')?;
                break;
            }
            let (ty, arity, member) = self.declared()?;
            self.expect(';')?;
            members.push(Member {
                name: member,
                ty,
                arity,
            });
        }
        let full = self.scoped(&name);
        self.structs.insert(full, members);
        Ok(())
    }

    /// `[N]` after a declarator, or nothing.
    fn array_suffix(&mut self) -> std::result::Result<Arity, String> {
        if self.peek() != Some(&Token::Punct('[')) {
            return Ok(Arity::Scalar);
        }
        self.pos += 1;
        let n = self.number()?;
        self.expect(']')?;
        if self.peek() == Some(&Token::Punct('[')) {
            return Err("multi-dimensional arrays are not supported".to_string());
        }
        Ok(Arity::Fixed(n))
    }

    fn number(&mut self) -> std::result::Result<usize, String> {
        match self.next()? {
            Token::Number(n) => {
                let v: usize = n.parse().map_err(|_| format!("malformed length {n:?}"))?;
                if v > MAX_FIXED_ARRAY_LEN {
                    return Err(format!(
                        "length {v} exceeds the cap of {MAX_FIXED_ARRAY_LEN}"
                    ));
                }
                Ok(v)
            }
            t => Err(format!("expected a number, found {t:?}")),
        }
    }

    /// A type with the arity a sequence gives it, and a declarator's
    /// `[N]` after the name: together the member's element type and arity.
    fn declared(&mut self) -> std::result::Result<(IdlType, Arity, String), String> {
        let (ty, seq) = self.element_or_sequence()?;
        let name = self.ident()?;
        let fixed = self.array_suffix()?;
        let arity = match (seq, fixed) {
            (a, Arity::Scalar) => a,
            (Arity::Scalar, f) => f,
            _ => return Err(format!("{name}: arrays of sequences are not supported")),
        };
        Ok((ty, arity, name))
    }

    fn element_or_sequence(&mut self) -> std::result::Result<(IdlType, Arity), String> {
        let first = self.ident()?;
        let p = |p: Primitive| Ok((IdlType::Primitive(p, None), Arity::Scalar));
        match first.as_str() {
            "sequence" => {
                self.expect('<')?;
                let (elem, inner) = self.element_or_sequence()?;
                if inner != Arity::Scalar {
                    return Err("sequences of sequences are not supported".to_string());
                }
                let arity = if self.peek() == Some(&Token::Punct(',')) {
                    self.pos += 1;
                    Arity::Bounded(self.number()?)
                } else {
                    Arity::Variable
                };
                self.expect('>')?;
                Ok((elem, arity))
            }
            "string" => {
                let bound = if self.peek() == Some(&Token::Punct('<')) {
                    self.pos += 1;
                    let n = self.number()?;
                    self.expect('>')?;
                    Some(n)
                } else {
                    None
                };
                Ok((IdlType::Primitive(Primitive::String, bound), Arity::Scalar))
            }
            "wstring" | "wchar" => Err(format!(
                "{first} is not supported (its wire form differs between middlewares)"
            )),
            "boolean" => p(Primitive::Bool),
            "octet" => p(Primitive::Octet),
            "char" | "uint8" => p(Primitive::UInt8),
            "int8" => p(Primitive::Int8),
            "int16" | "short" => p(Primitive::Int16),
            "uint16" => p(Primitive::UInt16),
            "int32" => p(Primitive::Int32),
            "uint32" => p(Primitive::UInt32),
            "int64" => p(Primitive::Int64),
            "uint64" => p(Primitive::UInt64),
            "float" => p(Primitive::Float32),
            "double" => p(Primitive::Float64),
            "unsigned" => match self.ident()?.as_str() {
                "short" => p(Primitive::UInt16),
                "long" if self.peek() == Some(&Token::Ident("long".into())) => {
                    self.pos += 1;
                    p(Primitive::UInt64)
                }
                "long" => p(Primitive::UInt32),
                other => Err(format!("unknown type `unsigned {other}`")),
            },
            "long" => match self.peek() {
                Some(Token::Ident(s)) if s == "long" => {
                    self.pos += 1;
                    p(Primitive::Int64)
                }
                Some(Token::Ident(s)) if s == "double" => {
                    Err("long double is not supported".into())
                }
                _ => p(Primitive::Int32),
            },
            _ => {
                let mut parts = vec![first];
                while self.peek() == Some(&Token::Scope) {
                    self.pos += 1;
                    parts.push(self.ident()?);
                }
                Ok((IdlType::Named(parts), Arity::Scalar))
            }
        }
    }
}

/// Parses an embedded `ros2idl` definition of `datatype` (`pkg/msg/Type`).
pub fn parse(datatype: &str, text: &str) -> Result<Arc<MessageType>> {
    let name = super::ros2::normalize_type_name(datatype);
    let err = |reason: String| Error::Definition {
        datatype: name.clone(),
        reason,
    };
    let valid = name.split('/').count() == 3
        && name
            .split('/')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if !valid {
        return Err(err(format!("malformed type name {name:?}")));
    }
    // The sections are whole IDL files; their headers are not IDL.
    let mut idl = String::with_capacity(text.len());
    let mut after_separator = false;
    for line in text.lines() {
        if is_separator(line) {
            after_separator = true;
            continue;
        }
        if after_separator && line.trim_start().starts_with("IDL:") {
            after_separator = false;
            continue;
        }
        after_separator = false;
        idl.push_str(line);
        idl.push('\n');
    }
    let mut parser = Parser {
        tokens: tokenize(&idl).map_err(err)?,
        pos: 0,
        structs: HashMap::new(),
        typedefs: HashMap::new(),
        scope: Vec::new(),
    };
    parser.definitions(false).map_err(err)?;
    let mut resolver = Resolver {
        structs: &parser.structs,
        typedefs: &parser.typedefs,
        done: HashMap::new(),
        depth: 0,
    };
    let root = name.replace('/', "::");
    let resolved = resolver.resolve(&root).map_err(err)?;
    check_expansion(&resolved).map_err(err)?;
    Ok(resolved)
}

struct Resolver<'a> {
    structs: &'a HashMap<String, Vec<Member>>,
    typedefs: &'a HashMap<String, Typedef>,
    done: HashMap<String, Arc<MessageType>>,
    depth: usize,
}

impl Resolver<'_> {
    fn resolve(&mut self, scoped: &str) -> std::result::Result<Arc<MessageType>, String> {
        if let Some(done) = self.done.get(scoped) {
            return Ok(done.clone());
        }
        let members = self.structs.get(scoped).ok_or_else(|| {
            format!(
                "names type {} but does not define it",
                scoped.replace("::", "/")
            )
        })?;
        if self.depth >= MAX_NESTING_DEPTH {
            return Err(format!(
                "types nest deeper than {MAX_NESTING_DEPTH} levels (or recursively) at {scoped}"
            ));
        }
        self.depth += 1;
        let module = scoped.rsplit_once("::").map_or("", |(m, _)| m).to_string();
        let mut fields = Vec::new();
        // rosidl's placeholder member of an empty .msg is not a field.
        let placeholder =
            members.len() == 1 && members[0].name == "structure_needs_at_least_one_member";
        for m in members.iter().filter(|_| !placeholder) {
            let (ty, arity, bound) = self.member_type(&m.ty, m.arity, &module)?;
            fields.push(Field {
                name: m.name.clone(),
                ty,
                arity,
                string_bound: bound,
            });
        }
        self.depth -= 1;
        let msg = Arc::new(MessageType {
            name: scoped.replace("::", "/"),
            fields,
        });
        self.done.insert(scoped.to_string(), msg.clone());
        Ok(msg)
    }

    fn member_type(
        &mut self,
        ty: &IdlType,
        arity: Arity,
        module: &str,
    ) -> std::result::Result<(FieldType, Arity, Option<usize>), String> {
        match ty {
            IdlType::Primitive(p, bound) => Ok((FieldType::Primitive(*p), arity, *bound)),
            IdlType::Named(parts) => {
                let joined = parts.join("::");
                // A sequence or typedef: its element type with its arity.
                let typedef = self
                    .typedefs
                    .get(&joined)
                    .or_else(|| self.typedefs.get(&format!("{module}::{joined}")));
                if let Some(t) = typedef {
                    if arity != Arity::Scalar && t.arity != Arity::Scalar {
                        return Err(format!("arrays of arrays ({joined}) are not supported"));
                    }
                    let arity = if t.arity == Arity::Scalar {
                        arity
                    } else {
                        t.arity
                    };
                    let (ty, _, bound) = self.member_type(&t.ty.clone(), Arity::Scalar, module)?;
                    return Ok((ty, arity, bound));
                }
                let full = if self.structs.contains_key(&joined) {
                    joined
                } else {
                    format!("{module}::{joined}")
                };
                Ok((FieldType::Message(self.resolve(&full)?), arity, None))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{rihs, ros2};

    const OBSTACLE: &str = r#"================================================================================
IDL: example_msgs/msg/Obstacle
// generated from rosidl_adapter/resource/msg.idl.em
#include "geometry_msgs/msg/Point.idl"
module example_msgs {
  module msg {
    typedef double double__9[9];
    module Obstacle_Constants {
      const uint8 KIND_PERSON = 1;
      const string NAME = "a;b";
    };
    @verbatim (language="comment", text=
      "A thing in the way.")
    struct Obstacle {
      @default (value=0)
      uint8 kind;
      double__9 covariance;
      sequence<geometry_msgs::msg::Point, 16> outline;
      @default (value="none")
      string<32> label;
      uint8 code;
      octet raw;
      sequence<octet> blob;
      geometry_msgs::msg::Point centre;
    };
  };
};
================================================================================
IDL: geometry_msgs/msg/Point
module geometry_msgs {
  module msg {
    struct Point {
      double x;
      double y;
      double z;
    };
  };
};
"#;

    const OBSTACLE_MSG: &str = "uint8 KIND_PERSON=1\nuint8 kind 0\nfloat64[9] covariance\n\
        geometry_msgs/Point[<=16] outline\nstring<=32 label \"none\"\nchar code\nbyte raw\nbyte[] blob\n\
        geometry_msgs/Point centre\n===\nMSG: geometry_msgs/Point\nfloat64 x\nfloat64 y\nfloat64 z\n";

    #[test]
    fn idl_gives_the_same_tree_and_hash_as_msg() {
        let none = |_: &str| None;
        let from_idl = parse("example_msgs/msg/Obstacle", OBSTACLE).unwrap();
        let from_msg = ros2::parse("example_msgs/msg/Obstacle", OBSTACLE_MSG, &none).unwrap();
        assert_eq!(from_idl, from_msg);
        assert_eq!(
            rihs::type_hash(&from_idl).unwrap(),
            rihs::type_hash(&from_msg).unwrap()
        );
    }

    #[test]
    fn empty_messages_and_errors() {
        let empty = "module std_msgs { module msg { struct Empty { uint8 structure_needs_at_least_one_member; }; }; };";
        assert!(
            parse("std_msgs/msg/Empty", empty)
                .unwrap()
                .fields
                .is_empty()
        );
        let w = "module a { module msg { struct B { wstring w; }; }; };";
        assert!(
            parse("a/msg/B", w)
                .unwrap_err()
                .to_string()
                .contains("wstring")
        );
        let missing = "module a { module msg { struct B { c::msg::D d; }; }; };";
        assert!(parse("a/msg/B", missing).is_err());
        assert!(parse("a/msg/B", "module a {").is_err());
    }
}
