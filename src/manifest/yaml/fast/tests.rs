//! Differential tests: whenever the fast reader answers, its answer is the full reader's.

use super::super::parse_stream_full;
use super::parse;

/// Whether the fast path took `text`; panics when its answer differs from the full reader's.
fn same(text: &str) -> bool {
    let fast = parse(text);
    if let Some(docs) = &fast {
        let full = parse_stream_full(text);
        assert_eq!(
            Ok(docs),
            full.as_ref(),
            "fast and full readers differ on {text:?}"
        );
    }
    fast.is_some()
}

/// The fast path takes `text` and answers as the full reader does.
fn fast(text: &str) {
    assert!(same(text), "the fast path fell back on {text:?}");
}

/// The fast path leaves `text` to the full reader.
fn falls_back(text: &str) {
    assert!(!same(text), "the fast path took {text:?}");
}

#[test]
fn mappings_sequences_and_lines() {
    fast("a: 1\nb: two\nc:\n  d: x\n  e:\n    - 1\n    - 2\n");
    fast("key:\n- a\n- b\nnext: 1\n");
    fast("- name: x\n  image: y\n- name: z\n");
    fast("-   name: x\n    port: 1\n-\n  name: y\n");
    fast("- - a\n  - b\n- c\n");
    fast("a:\n  - b:\n    - c\n    - d\n    e: f\n");
    fast("# head\n\n  # indented comment\na: 1  # trailing\n# between\nb: 2\n");
    fast("  a: 1\n  b:\n    c: 2\n");
    fast("a:\nb: ~\nc: null\nd: Null\ne: NULL\n");
    fast("a: 1\n\n\n\nb:\n\n  c: 2\n");
    fast("a:    spaced value   \nb: x  y\n");
    fast("a: 1   \nb:   \n  c: 2   \n");
    fast("a: #c\nb: 1\n");
    fast("- #c\n  a: 1\n");
    fast("a:\n- - x\n  - y\n- z\n");
    fast("a:\n  b: 1\n# c\n  c: 2\n");
    fast("a:\n  b: 1\n---\nc: 1\n");
    fast("- \"a\": 1\n  'b': 2\n");
    fast("- -1\n- -x\n");
}

#[test]
fn documents() {
    fast("---\na: 1\n---\nb: 2\n");
    fast("a: 1\n---\n---\n# only a comment\n---\nb: 2\n--- # c\nc: 3\n---\n");
    fast("---   \na: 1\n");
    fast("");
    fast("# nothing\n");
    fast("---\n");
    falls_back("--- a: 1\n");
    falls_back("--- |\n  x\n");
    falls_back("a: 1\n...\n");
    falls_back("%YAML 1.2\n---\na: 1\n");
    falls_back("just a scalar\n");
    falls_back("---x: 1\n");
    falls_back("a: 1\nb\n");
    falls_back("a: 1\n  b: 2\n");
    falls_back("- a\nb: 1\n");
}

#[test]
fn item_lines() {
    fast("apiVersion: v1\nkind: List\nitems:\n- a: 1\n  b: 2\n-   c: 3\n-\n  d: 4\n- x\n- [1]\n");
    fast("kind: List\nitems:\n  - a: 1\n  - b: 2\n");
    fast("kind: List\nitems: [{a: 1}, {b: 2}]\n");
    fast("items:\n- a\nitems:\n- b\n");
    fast("items:\n  a:\n  - 1\n");
    fast("- items:\n  - a\n");
    fast("items:\n- 'q'\n- \"r\"\n");
    falls_back("items:\n- |\n  text\n");
    fast("other:\n- |\n  text\n");
}

#[test]
fn plain_scalars_resolve_as_the_full_reader_does() {
    fast(
        "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: 0755\ng: 0x1F\nh: 1e3\ni: on\nj: .5\nk: 12abc\n\
         l: yes\nm: .inf\nn: -.inf\no: .nan\np: 0o17\nq: 1_000\nr: 0b101\ns: +1\nt: 18446744073709551616\n\
         u: -9223372036854775809\nv: 1.\nw: 1e999\nx: True\ny: FALSE\nz: 09\n",
    );
    fast("on: 1\nyes: 2\n1: a\n1.0: b\ntrue: c\n~: d\nnull: e\n0x10: f\n");
    fast(
        "a: a#b\nb: x #comment\nc: http://x.y/z?q=1&r=2\nd: a:b\ne: -x\nf: --flag\ng: a,b\nh: a]b\ni: x}\n",
    );
    fast("a: sum(rate(x[5m])) by (job)\nb: a \"quoted\" word\nc: it's\nd: \\back\ne: 60:30\n");
    fast("a: ---\nb: ...\nc: a - b\n");
    fast("a: ü ñ 日本語 😀\nb: \u{a0}x\u{a0}\nkey ü: v\n");
    fast("a: -\u{1f600}\n");
    falls_back("a: b: c\n");
    falls_back("a: b:\n");
    falls_back("a: &x 1\n");
    falls_back("a: *x\n");
    falls_back("a: !!str 1\n");
    falls_back("a: @x\n");
    falls_back("a: `x`\n");
    falls_back("a: %x\n");
    falls_back("a: - b\n");
    falls_back("a: multi\n  line\n");
    falls_back("- multi\n  line\n");
    falls_back("a: 'x' y\n");
}

#[test]
fn keys() {
    fast("\"quoted key\": 1\n'single': 2\n\"a: b\": 3\n'#x': 4\n\"\": 5\n");
    fast("a b c: 1\na#b: 2\n-x: 3\nkey with trailing spaces   : 4\n\"items\": [1]\n");
    fast("\"<<\": {x: 1}\n");
    fast("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\na: 4\n");
    fast("x: {k: 1, k: 2}\nx: [1]\n");
    fast("a: 1\na:\n  b: yes\n");
    falls_back("<<: {x: 1}\n");
    falls_back("? a\n: b\n");
    falls_back("[a]: b\n");
    falls_back("{a: 1}: b\n");
    falls_back("\"a\" : 1\n");
    falls_back("a #c: 1\n");
    falls_back(&format!("{}: 1\n", "k".repeat(1100)));
    falls_back(&format!("k{}: 1\n", " ".repeat(1100)));
    let long = "x".repeat(3000);
    fast(&format!(
        "a: {long}\nb: \"{long}\"\nc: [{long}, '{long}']\nd:\n- {long}\n- '{long}'\n"
    ));
}

#[test]
fn quoted_scalars() {
    fast("a: 'it''s'\nb: \"x: y # z\"\nc: '#x'\nd: \"\"\ne: ''\nf: \"  pad  \"\n");
    fast(
        "a: \"\\\\ \\\" \\/ \\n \\t \\r \\0 \\a \\b \\e \\f \\v \\  \\N \\_ \\L \\P\"\nb: \"\\x41\\u00e9\\U0001F600\"\n",
    );
    fast("a: \"x\" # comment\nb: 'y'   \n");
    fast("- \"a\"\n- 'b'\n");
    falls_back("a: \"unclosed\n  more\"\n");
    falls_back("a: 'unclosed\n  more'\n");
    falls_back("a: \"x\\\n  y\"\n");
    falls_back("a: \"\\ud800\"\n");
    falls_back("a: \"\\q\"\n");
    falls_back("a: \"x\"#c\n");
}

#[test]
fn block_scalars() {
    fast("a: |\n  line 1\n  line 2\nb: 1\n");
    fast("a: |-\n  x\n\n\nb: 1\n");
    fast("a: |+\n  x\n\n\nb: 1\n");
    fast("a: |+\n  x\n\n");
    fast("a: |\n\n  x\n\n  y\n    indented\n  # not a comment\nb: 1\n");
    fast("a: |  # comment\n  x\n");
    fast("a: |\n  ---\n  x\n---\nb: 1\n");
    fast("a: |\n  x\n   \n  y\n");
    fast("a: |\n  x\n     \n");
    fast("a: |\n  trailing spaces   \n");
    fast("- |\n  x\n- >\n  y\n");
    fast("a:\n  - b: |\n      x\n    c: 1\n");
    fast("a: >\n  folded\n  text\n\n  new paragraph\n\n\n  third\nb: >-\n  x\n  y\nc: >+\n  z\n\n");
    fast("a: >\n\n  leading empty\n");
    fast("a: |\n  x\n# comment ends it\nb: 1\n");
    fast("a: |+\r\n  x\r\n\r\n");
    fast("a: |\n \n  x\n");
    fast("a:\n- |\n x\nb: 1\n");
    falls_back("- a: |\n  x\n");
    falls_back("a: |\n  x\n# c\n  y\n");
    falls_back("a: >\n  folded\n    more indented\n  back\n");
    falls_back("a: |2\n   x\n");
    falls_back("a: |-2\n   x\n");
    falls_back("a: |\nb: 1\n");
    falls_back("a: |\n");
    falls_back("a: |\n  x");
    falls_back("a: |\n    \n  x\n");
    falls_back("a: |x\n  x\n");
}

#[test]
fn flow_collections() {
    fast("a: []\nb: {}\nc: [1, two, \"3\", '4', [5], {six: 6}]\nd: {x: 1, y: [a, b], z: {w: ~}}\n");
    fast("a: [ a , b ]\nb: {a: 1,}\nc: [a, b,]\nd: [https://x.example.com/a, -1, a:b]\n");
    fast("- {name: http, containerPort: 8080}\n- [a, b]  # c\n");
    fast("a: {cpu: \"1\", memory: 512Mi}\nb: [\"--listen=:8080\", '--x']\n");
    fast("a: [yes, on, 0755]\nb: {on: 1, yes: no}\n");
    fast("a: {x: 1, x: 2}\n");
    fast("a: [[], {}, [[]]]\nb: {a : 1}\nc: [a b, c  d ]\nitems: []\n");
    falls_back("a: [a,\n  b]\n");
    falls_back("a: {x: 1\n  }\n");
    falls_back("a: [a: b]\n");
    falls_back("a: {a, b}\n");
    falls_back("a: {a:1}\n");
    falls_back("a: {\"a\":1}\n");
    falls_back("a: [a #c]\n");
    falls_back("a: [a] x\n");
    falls_back("a: [&x 1]\n");
    falls_back("a: {x: }\n");
    falls_back("[a, b]\n");
    falls_back("{a: 1}\n");
}

#[test]
fn line_ends_bom_and_characters() {
    fast("a: 1\r\nb:\r\n  - x\r\nc: |\r\n  y\r\n  z\r\n---\r\nd: 'q'\r\n");
    fast("\u{feff}a: 1\nb: 2\n");
    fast("a: 1");
    fast("a: x\nb: y");
    falls_back("a: 1\rb: 2\n");
    falls_back("a:\n\tb: 1\n");
    falls_back("a: x\ty\n");
    falls_back("a: x\0y\n");
    falls_back("a: \u{85}\n");
    falls_back("a: \u{2028}\n");
    falls_back("a: x\u{feff}\n");
    falls_back("a: \u{7f}\n");
}

#[test]
fn indentation() {
    fast("a:\n   b: 1\n   c:\n         d: 2\n");
    falls_back("a:\n    b: 1\n  c: 2\n");
    falls_back("a:\n  - x\n   - y\n");
    falls_back("- a\n -b\n");
    falls_back("a:\n-\n- b\n");
    falls_back("- \n- b\n");
    let deep: String = (0..120)
        .map(|i| format!("{}a:\n", "  ".repeat(i)))
        .collect();
    falls_back(&deep);
    let ok: String = (0..50).map(|i| format!("{}a:\n", "  ".repeat(i))).collect();
    fast(&ok);
}

#[test]
fn every_byte_position_is_checked() {
    // The validation pass reads eight bytes at a time: a forbidden character at any offset
    // of the chunk, and allowed non-ASCII ones around it, must be seen.
    for pad in 0..17 {
        let fill = "x".repeat(pad);
        fast(&format!("a: {fill}é\nb: {fill}日本\n"));
        for bad in [
            "\t", "\u{1}", "\u{7f}", "\u{85}", "\u{2028}", "\r", "\u{feff}",
        ] {
            falls_back(&format!("a: {fill}{bad}z\nb: 1\n"));
        }
    }
}

#[test]
fn long_comment_runs_fall_back() {
    // granit-parser refuses more than 96 comments buffered while looking ahead (after an empty
    // value, say): a long run of comment lines is left to it, a short one is read here.
    let deep: String = (0..60).map(|i| format!("{}a:\n", "  ".repeat(i))).collect();
    falls_back(&format!("{deep}{}b: 1\n", "# c\n\n".repeat(20_000)));
    falls_back(&format!("a:\n{}b: 1\n", "# c\n".repeat(100)));
    falls_back(&format!(
        "a: 1\n{}---\n{}b: 1\n",
        "# c\n".repeat(20),
        "# c\n".repeat(20)
    ));
    fast(&format!("{deep}{}b: 1\n", "# c\n\n".repeat(30)));
    fast(&format!(
        "a: 1\n{}b: 2\n{}c: 3\n",
        "# c\n".repeat(30),
        "# c\n".repeat(30)
    ));
}

/// A xorshift generator: the same cases on every run.
struct Cases(u64);

impl Cases {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[self.below(choices.len())]
    }

    /// A block collection at `indent`: keys, values, nesting, comments and markers drawn from
    /// inside and just outside the subset.
    fn block(&mut self, out: &mut String, indent: usize, depth: usize) {
        const KEYS: &[&str] = &[
            "a", "b", "items", "on", "1", "\"q\"", "'s'", "<<", "\"<<\"", "a b", "-k", "k#", "~",
            "?", "? a", "[a]", "key ", "é",
        ];
        const VALUES: &[&str] = &[
            "a",
            "b c",
            "1",
            "-1",
            "0755",
            "yes",
            "~",
            "",
            "1e3",
            ".inf",
            "'q'",
            "\"d\"",
            "'it''s'",
            "\"a\\\"b\"",
            "x#y",
            "x #c",
            "http://a:b",
            "a:b",
            "[a, b]",
            "{a: 1}",
            "[]",
            "{a: [1, 2], b: {c: ~}}",
            "- x",
            "a: b",
            "|",
            "|-",
            "|+",
            ">",
            ">-",
            "&a x",
            "*a",
            "!t x",
            "? x",
            "x]",
            ",x",
            "\"\\u00e9\"",
            "-",
            "'a' b",
            "\"a\" #c",
            "[a,]",
            "[a: b]",
            "{a, b}",
            "0x1F",
            "1_000",
            "\"\\x41\"",
            "a  ",
            "[ a ]",
            "{ a : 1 }",
            "%x",
            "@x",
        ];
        let seq = self.below(3) == 0;
        let pad = " ".repeat(indent);
        for _ in 0..1 + self.below(4) {
            if self.below(8) == 0 {
                out.push_str(self.pick(&["", "# c", "  # c", " ", "---", "...", "\t", "  "]));
                out.push('\n');
            }
            out.push_str(&pad);
            if seq {
                out.push('-');
                out.push_str(self.pick(&[" ", " ", "  ", ""]));
            } else {
                out.push_str(self.pick(KEYS));
                out.push_str(self.pick(&[": ", ": ", ":", ":  ", " : "]));
            }
            if depth < 4 && self.below(3) == 0 {
                if self.below(4) == 0 {
                    out.push_str(" # c");
                }
                out.push('\n');
                let step = self
                    .pick(&["0", "1", "2", "2", "2", "4"])
                    .parse::<usize>()
                    .unwrap();
                self.block(out, indent + step, depth + 1);
                continue;
            }
            let value = self.pick(VALUES);
            out.push_str(value);
            if value.starts_with(['|', '>']) {
                out.push('\n');
                let inner = " ".repeat(indent + 1 + self.below(3));
                for _ in 0..1 + self.below(3) {
                    let line = self.pick(&["text", "", " more", "# x", "---", "  ", "a: b"]);
                    if !line.is_empty() {
                        out.push_str(&inner);
                        out.push_str(line);
                    }
                    out.push('\n');
                }
                continue;
            }
            if self.below(6) == 0 {
                out.push_str(self.pick(&[" # c", "  ", " #c", "#c"]));
            }
            out.push_str(self.pick(&["\n", "\n", "\n", "\r\n"]));
        }
    }
}

#[test]
fn generated_streams_read_the_same_either_way() {
    let mut cases = Cases(0x9e37_79b9_7f4a_7c15);
    let mut taken = 0;
    for _ in 0..200_000 {
        let mut text = String::new();
        if cases.below(5) == 0 {
            text.push_str("---\n");
        }
        let indent = cases.below(2);
        cases.block(&mut text, indent, 0);
        if cases.below(4) == 0 {
            text.push_str("---\n");
            cases.block(&mut text, 0, 0);
        }
        taken += usize::from(same(&text));
    }
    // Enough of them inside the subset to mean something.
    assert!(
        taken > 10_000,
        "the fast path took only {taken} generated streams"
    );
}
