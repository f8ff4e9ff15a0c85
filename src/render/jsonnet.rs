//! Jsonnet evaluation with rsjsonnet-lang, inside the sandboxed child process.
//!
//! Why a child: a PR's jsonnet is attacker-controlled, jsonnet has no time limit and a huge
//! allocation aborts the process that makes it. The parent ([`render`]) re-executes our own binary
//! with the hidden `__render-jsonnet` subcommand under rlimits and a wall-clock kill timer (see
//! [`super::sandbox`]); the child ([`sandbox_child`]) never touches the file system: every file it
//! needs — the entry point and each import — is asked from the parent over a pipe, and the parent
//! answers only with files of the revision being rendered (see
//! [`super::RevisionFiles::resolve`]). So the evaluator cannot read host files even if it wanted
//! to, and imports work on git trees without a checkout.
//!
//! Why rsjsonnet-lang (README "Rendering" has the figures): its evaluator keeps its own stack
//! instead of recursing natively, so deep recursion ends as a "stack overflow" jsonnet error with a
//! position rather than a crashed thread, and it was the faster of the two candidates here.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::ExitCode;

use rsjsonnet_lang::arena::Arena;
use rsjsonnet_lang::interner::InternedStr;
use rsjsonnet_lang::lexer::LexError;
use rsjsonnet_lang::parser::ParseError;
use rsjsonnet_lang::program::{
    AnalyzeError, Callbacks, EvalError, EvalErrorKind, EvalStackTraceItem, ImportError, LoadError,
    NativeError, Program, Thunk, Value,
};
use rsjsonnet_lang::span::{SpanContextId, SpanId};
use serde::{Deserialize, Serialize};

use super::sandbox::{self, Frame};

/// Call depth at which evaluation stops with a "stack overflow" error (as go-jsonnet's default).
const MAX_CALL_DEPTH: usize = 500;

/// Native stack of the evaluation thread: the parser recurses on nesting depth.
const EVAL_THREAD_STACK: usize = 64 << 20;

/// What the parent asks the child to evaluate.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    /// Repository path of the entry point.
    pub entry: String,
    pub jpath: Vec<String>,
    pub ext_vars: BTreeMap<String, serde_json::Value>,
    pub tla: BTreeMap<String, serde_json::Value>,
    /// Largest JSON output the child may send.
    pub output_limit: u64,
}

/// An evaluation error as the child reports it: where (file:line:column) and what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Failure {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Entry point of the hidden `__render-jsonnet` subcommand: limits itself to `memory_bytes` of
/// address space and `cpu_seconds` of CPU time, then reads one [`Request`] on stdin, asks for
/// files over the same pipes, writes the JSON output (or a [`Failure`]) and exits. If the limits
/// cannot be set it refuses to evaluate anything.
pub fn sandbox_child(memory_bytes: u64, cpu_seconds: u64) -> ExitCode {
    if let Err(e) = sandbox::apply_own_limits(memory_bytes, cpu_seconds) {
        eprintln!("clobbercheck __render-jsonnet: cannot set resource limits: {e}");
        return ExitCode::from(3);
    }
    let worker = std::thread::Builder::new()
        .name("jsonnet".into())
        .stack_size(EVAL_THREAD_STACK)
        .spawn(child_run);
    let outcome = match worker {
        Ok(handle) => handle
            .join()
            .unwrap_or_else(|_| Err("evaluator panicked".into())),
        Err(e) => Err(format!("cannot start the evaluation thread: {e}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("clobbercheck __render-jsonnet: {message}");
            ExitCode::from(3)
        }
    }
}

fn child_run() -> Result<(), String> {
    let mut io = Pipes {
        input: std::io::stdin().lock(),
        output: std::io::stdout().lock(),
    };
    let first = sandbox::read_frame(&mut io.input, u64::MAX)
        .map_err(|e| format!("cannot read the request: {e}"))?;
    let request: Request = match first {
        Frame::Request(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("malformed request from the parent: {e}"))?,
        other => return Err(format!("expected a request, got {other:?}")),
    };
    let arena = Arena::new();
    let mut program = Program::new(&arena);
    program.set_max_stack(MAX_CALL_DEPTH);
    let mut evaluator = Evaluator {
        io,
        jpath: request.jpath.clone(),
        sources: Vec::new(),
        imports: HashMap::new(),
        import_error: None,
    };
    let frame = match evaluator.evaluate(&mut program, &request) {
        Ok(json) if json.len() as u64 > request.output_limit => {
            let failure = Failure {
                path: request.entry.clone(),
                line: 1,
                column: 1,
                message: format!(
                    "output is {} bytes, above the output limit of {} bytes",
                    json.len(),
                    request.output_limit
                ),
            };
            Frame::Failed(serde_json::to_vec(&failure).map_err(|e| e.to_string())?)
        }
        Ok(json) => Frame::Output(json.into_bytes()),
        Err(failure) => Frame::Failed(serde_json::to_vec(&failure).map_err(|e| e.to_string())?),
    };
    sandbox::write_frame(&mut evaluator.io.output, &frame)
        .map_err(|e| format!("cannot send the result: {e}"))
}

struct Pipes {
    input: std::io::StdinLock<'static>,
    output: std::io::StdoutLock<'static>,
}

/// What the parent answered for an import.
pub(crate) enum Answer {
    Found { path: String, bytes: Vec<u8> },
    Missing,
    Refused(String),
}

struct Evaluator<'p> {
    io: Pipes,
    jpath: Vec<String>,
    /// Loaded sources by span context, to turn spans into file:line:column.
    sources: Vec<(SpanContextId, String, Vec<u8>)>,
    /// Imports by resolved path: jsonnet evaluates each file once.
    imports: HashMap<String, Thunk<'p>>,
    /// Why the last import failed (rsjsonnet's `ImportError` carries nothing).
    import_error: Option<Failure>,
}

impl<'p> Evaluator<'p> {
    fn evaluate(
        &mut self,
        program: &mut Program<'p>,
        request: &Request,
    ) -> Result<String, Failure> {
        let at_entry = |message: String| Failure {
            path: request.entry.clone(),
            line: 1,
            column: 1,
            message,
        };
        for (name, value) in &request.ext_vars {
            let thunk = self.argument(program, "ext_vars", name, value)?;
            let name = program.intern_str(name);
            program.add_ext_var(name, &thunk);
        }
        let (path, bytes) = match self.ask(vec![request.entry.clone()]) {
            Ok(Answer::Found { path, bytes }) => (path, bytes),
            Ok(Answer::Missing) => return Err(at_entry("entry point not found".into())),
            Ok(Answer::Refused(reason)) => return Err(at_entry(reason)),
            Err(message) => return Err(at_entry(message)),
        };
        let thunk = self.load(program, &path, bytes)?;
        let mut value = program
            .eval_value(&thunk, self)
            .map_err(|e| self.eval_failure(program, e))?;
        if value.is_function() {
            let mut named: Vec<(InternedStr<'p>, Thunk<'p>)> = Vec::new();
            for (name, arg) in &request.tla {
                let thunk = self.argument(program, "tla", name, arg)?;
                named.push((program.intern_str(name), thunk));
            }
            let function = program.value_to_thunk(&value);
            value = program
                .eval_call(&function, &[], &named, self)
                .map_err(|e| self.eval_failure(program, e))?;
        }
        program
            .manifest_json(&value, false)
            .map_err(|e| self.eval_failure(program, e))
    }

    /// An ext var or TLA: strings as strings, other values as JSON code.
    fn argument(
        &mut self,
        program: &mut Program<'p>,
        what: &str,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<Thunk<'p>, Failure> {
        match value {
            serde_json::Value::String(s) => Ok(program.value_to_thunk(&Value::string(s))),
            other => {
                let code = other.to_string();
                self.load(program, &format!("<{what} {name}>"), code.into_bytes())
            }
        }
    }

    fn load(
        &mut self,
        program: &mut Program<'p>,
        path: &str,
        bytes: Vec<u8>,
    ) -> Result<Thunk<'p>, Failure> {
        let (context, _) = program
            .span_manager_mut()
            .insert_source_context(bytes.len());
        let result = program.load_source(context, &bytes, true, path);
        self.sources.push((context, path.to_string(), bytes));
        result.map_err(|e| self.load_failure(program, path, e))
    }

    /// Asks the parent for the first of `candidates` that exists.
    fn ask(&mut self, candidates: Vec<String>) -> Result<Answer, String> {
        let payload = serde_json::to_vec(&candidates).map_err(|e| e.to_string())?;
        sandbox::write_frame(&mut self.io.output, &Frame::Read(payload))
            .map_err(|e| format!("cannot ask the parent for a file: {e}"))?;
        match sandbox::read_frame(&mut self.io.input, u64::MAX)
            .map_err(|e| format!("no answer from the parent: {e}"))?
        {
            Frame::Found(payload) => {
                let (path, bytes) = sandbox::split_found(payload)
                    .ok_or_else(|| "malformed file answer from the parent".to_string())?;
                Ok(Answer::Found { path, bytes })
            }
            Frame::Missing => Ok(Answer::Missing),
            Frame::Refused(reason) => Ok(Answer::Refused(
                String::from_utf8_lossy(&reason).into_owned(),
            )),
            other => Err(format!("unexpected answer from the parent: {other:?}")),
        }
    }

    /// Resolves an import written in the file holding `from`: the importing file's folder first,
    /// then each jpath folder in order. Absolute paths go to the parent as written, to be refused.
    fn resolve(
        &mut self,
        program: &Program<'p>,
        from: SpanId,
        path: &str,
    ) -> Option<(String, Vec<u8>)> {
        let importer = self.position(program, from);
        let candidates: Vec<String> = if path.starts_with('/') {
            vec![path.to_string()]
        } else {
            let dir = importer
                .path
                .rsplit_once('/')
                .map(|(dir, _)| format!("{dir}/"))
                .unwrap_or_default();
            std::iter::once(format!("{dir}{path}"))
                .chain(self.jpath.iter().map(|j| format!("{j}/{path}")))
                .collect()
        };
        let fail = |message: String| Failure {
            path: importer.path.clone(),
            line: importer.line,
            column: importer.column,
            message,
        };
        match self.ask(candidates.clone()) {
            Ok(Answer::Found { path, bytes }) => Some((path, bytes)),
            Ok(Answer::Missing) => {
                self.import_error = Some(fail(format!(
                    "cannot import \"{path}\": not found in this revision (looked at {})",
                    candidates.join(", ")
                )));
                None
            }
            Ok(Answer::Refused(reason)) => {
                self.import_error = Some(fail(format!("cannot import \"{path}\": {reason}")));
                None
            }
            Err(message) => {
                self.import_error = Some(fail(message));
                None
            }
        }
    }

    fn position(&self, program: &Program<'p>, span: SpanId) -> Failure {
        let (context, start, _) = program.span_manager().get_span(span);
        match self.sources.iter().find(|(c, _, _)| *c == context) {
            Some((_, path, bytes)) => {
                let (line, column) = line_column(bytes, start);
                Failure {
                    path: path.clone(),
                    line,
                    column,
                    message: String::new(),
                }
            }
            None => Failure {
                path: "<jsonnet standard library>".into(),
                line: 1,
                column: 1,
                message: String::new(),
            },
        }
    }

    fn load_failure(&self, program: &Program<'p>, path: &str, error: LoadError) -> Failure {
        let (span, message) = match &error {
            LoadError::Lex(e) => (lex_span(e), format!("syntax error: {e:?}")),
            LoadError::Parse(ParseError::Expected {
                span,
                expected,
                instead,
            }) => (
                *span,
                format!("syntax error: expected one of {expected:?}, found {instead:?}"),
            ),
            LoadError::Analyze(e) => (analyze_span(e), format!("{e:?}")),
        };
        let mut failure = self.position(program, span);
        if failure.path != path {
            failure.path = path.to_string();
        }
        failure.message = strip_spans(&message);
        failure
    }

    fn eval_failure(&mut self, program: &Program<'p>, error: EvalError) -> Failure {
        if let EvalErrorKind::ImportFailed { .. } = error.kind
            && let Some(failure) = self.import_error.take()
        {
            return failure;
        }
        let message = match &error.kind {
            EvalErrorKind::StackOverflow => format!(
                "stack overflow: evaluation nested deeper than {MAX_CALL_DEPTH} levels (infinite or too deep recursion)"
            ),
            EvalErrorKind::InfiniteRecursion => "infinite recursion".to_string(),
            EvalErrorKind::ExplicitError { message, .. } => format!("error: {message}"),
            EvalErrorKind::AssertFailed { message, .. } => match message {
                Some(message) => format!("assertion failed: {message}"),
                None => "assertion failed".to_string(),
            },
            EvalErrorKind::UnknownExtVar { name } => {
                format!("undefined external variable '{name}' (set it in ext_vars of the source)")
            }
            EvalErrorKind::UnknownObjectField { field_name, .. } => {
                format!("field '{field_name}' does not exist")
            }
            EvalErrorKind::Other { message, .. } => message.clone(),
            other => strip_spans(&format!("{other:?}")),
        };
        let span = eval_span(&error.kind).or_else(|| {
            // The trace runs from the outermost frame inwards: the innermost user frame is where
            // the error happened.
            error.stack_trace.iter().rev().find_map(|item| {
                let span = trace_span(item)?;
                let position = self.position(program, span);
                (!position.path.starts_with('<')).then_some(span)
            })
        });
        let mut failure = match span {
            Some(span) => self.position(program, span),
            None => Failure {
                path: self
                    .sources
                    .iter()
                    .find(|(_, p, _)| !p.starts_with('<'))
                    .map(|(_, p, _)| p.clone())
                    .unwrap_or_default(),
                line: 1,
                column: 1,
                message: String::new(),
            },
        };
        failure.message = message;
        failure
    }
}

impl<'p> Callbacks<'p> for Evaluator<'p> {
    fn import(
        &mut self,
        program: &mut Program<'p>,
        from: SpanId,
        path: &str,
    ) -> Result<Thunk<'p>, ImportError> {
        let (resolved, bytes) = self.resolve(program, from, path).ok_or(ImportError)?;
        if let Some(thunk) = self.imports.get(&resolved) {
            return Ok(thunk.clone());
        }
        match self.load(program, &resolved, bytes) {
            Ok(thunk) => {
                self.imports.insert(resolved, thunk.clone());
                Ok(thunk)
            }
            Err(failure) => {
                self.import_error = Some(failure);
                Err(ImportError)
            }
        }
    }

    fn import_str(
        &mut self,
        program: &mut Program<'p>,
        from: SpanId,
        path: &str,
    ) -> Result<String, ImportError> {
        let (resolved, bytes) = self.resolve(program, from, path).ok_or(ImportError)?;
        String::from_utf8(bytes).map_err(|_| {
            let mut failure = self.position(program, from);
            failure.message = format!("cannot importstr \"{resolved}\": not valid UTF-8");
            self.import_error = Some(failure);
            ImportError
        })
    }

    fn import_bin(
        &mut self,
        program: &mut Program<'p>,
        from: SpanId,
        path: &str,
    ) -> Result<Vec<u8>, ImportError> {
        self.resolve(program, from, path)
            .map(|(_, bytes)| bytes)
            .ok_or(ImportError)
    }

    fn trace(&mut self, _program: &mut Program<'p>, message: &str, _stack: &[EvalStackTraceItem]) {
        // The child's stderr is collected (bounded) by the parent and logged there.
        let _ = writeln!(std::io::stderr(), "TRACE: {message}");
    }

    fn native_call(
        &mut self,
        _program: &mut Program<'p>,
        _name: InternedStr<'p>,
        _args: &[Value<'p>],
    ) -> Result<Value<'p>, NativeError> {
        // No native functions are registered, so rsjsonnet never calls this.
        Err(NativeError)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = 1 + String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count();
    (line, column)
}

fn lex_span(error: &LexError) -> SpanId {
    match error {
        LexError::InvalidChar { span, .. }
        | LexError::InvalidUtf8 { span, .. }
        | LexError::UnfinishedMultilineComment { span }
        | LexError::LeadingZeroInNumber { span }
        | LexError::MissingFracDigits { span }
        | LexError::MissingExpDigits { span }
        | LexError::MissingDigitAfterUnderscore { span }
        | LexError::ExpOverflow { span }
        | LexError::InvalidEscapeInString { span, .. }
        | LexError::IncompleteUnicodeEscape { span }
        | LexError::InvalidUtf16EscapeSequence { span, .. }
        | LexError::UnfinishedString { span }
        | LexError::MissingLineBreakAfterTextBlockStart { span }
        | LexError::MissingWhitespaceTextBlockStart { span }
        | LexError::InvalidTextBlockTermination { span } => *span,
    }
}

fn analyze_span(error: &AnalyzeError) -> SpanId {
    match error {
        AnalyzeError::UnknownVariable { span, .. }
        | AnalyzeError::PositionalArgAfterNamed { arg_span: span }
        | AnalyzeError::TextBlockAsImportPath { span }
        | AnalyzeError::ComputedImportPath { span }
        | AnalyzeError::SelfOutsideObject { self_span: span }
        | AnalyzeError::SuperOutsideObject { super_span: span }
        | AnalyzeError::DollarOutsideObject { dollar_span: span }
        | AnalyzeError::RepeatedLocalName {
            repeated_span: span,
            ..
        }
        | AnalyzeError::RepeatedFieldName {
            repeated_span: span,
            ..
        }
        | AnalyzeError::RepeatedParamName {
            repeated_span: span,
            ..
        } => *span,
    }
}

fn eval_span(kind: &EvalErrorKind) -> Option<SpanId> {
    match kind {
        EvalErrorKind::InvalidIndexedType { span, .. }
        | EvalErrorKind::InvalidSlicedType { span, .. }
        | EvalErrorKind::SliceIndexOrStepIsNotNumber { span, .. }
        | EvalErrorKind::StringIndexIsNotNumber { span, .. }
        | EvalErrorKind::ArrayIndexIsNotNumber { span, .. }
        | EvalErrorKind::NumericIndexIsNotValid { span, .. }
        | EvalErrorKind::NumericIndexOutOfRange { span, .. }
        | EvalErrorKind::ObjectIndexIsNotString { span, .. }
        | EvalErrorKind::RepeatedFieldName { span, .. }
        | EvalErrorKind::FieldNameIsNotString { span, .. }
        | EvalErrorKind::UnknownObjectField { span, .. }
        | EvalErrorKind::FieldOfNonObject { span }
        | EvalErrorKind::SuperWithoutSuperObject { span }
        | EvalErrorKind::ForSpecValueIsNotArray { span, .. }
        | EvalErrorKind::CondIsNotBool { span, .. }
        | EvalErrorKind::InvalidUnaryOpType { span, .. }
        | EvalErrorKind::AssertFailed { span, .. }
        | EvalErrorKind::ExplicitError { span, .. }
        | EvalErrorKind::ImportFailed { span, .. } => Some(*span),
        EvalErrorKind::CalleeIsNotFunction { span, .. }
        | EvalErrorKind::TooManyCallArgs { span, .. }
        | EvalErrorKind::UnknownCallParam { span, .. }
        | EvalErrorKind::RepeatedCallParam { span, .. }
        | EvalErrorKind::CallParamNotBound { span, .. }
        | EvalErrorKind::InvalidBinaryOpTypes { span, .. }
        | EvalErrorKind::NumberNotBitwiseSafe { span }
        | EvalErrorKind::NumberOverflow { span }
        | EvalErrorKind::NumberNan { span }
        | EvalErrorKind::DivByZero { span }
        | EvalErrorKind::ShiftByNegative { span }
        | EvalErrorKind::Other { span, .. } => *span,
        _ => None,
    }
}

fn trace_span(item: &EvalStackTraceItem) -> Option<SpanId> {
    match item {
        EvalStackTraceItem::Expr { span }
        | EvalStackTraceItem::Variable { span, .. }
        | EvalStackTraceItem::Import { span } => Some(*span),
        EvalStackTraceItem::Call { span, .. }
        | EvalStackTraceItem::ArrayItem { span, .. }
        | EvalStackTraceItem::ObjectField { span, .. } => *span,
        _ => None,
    }
}

/// Removes `span: …` fields from a `Debug` rendering: the position is reported separately.
fn strip_spans(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("span: ") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' | '{' | '[' => depth += 1,
                ')' | ']' => depth = depth.saturating_sub(1),
                '}' if depth == 0 => {
                    end = i;
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = after[end..].trim_start();
    }
    out.push_str(rest);
    out.replace(" { }", "").replace("{ }", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_characters() {
        let text = "a\nbé c\n".as_bytes();
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 2), (2, 1));
        assert_eq!(line_column(text, 6), (2, 4));
    }

    #[test]
    fn spans_are_removed_from_debug_text() {
        assert_eq!(
            strip_spans("InvalidIndexedType { span: SpanId(12), got_type: Null }"),
            "InvalidIndexedType { got_type: Null }"
        );
        assert_eq!(
            strip_spans("DivByZero { span: Some(SpanId(3)) }"),
            "DivByZero"
        );
    }
}
