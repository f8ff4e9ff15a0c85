//! Renders Markdown from standard input as GitHub shows a PR comment: GitHub Flavored Markdown
//! (comrak: tables, strikethrough, autolinks; `<details>`/`<sub>` kept as GitHub keeps them) in a
//! page styled like github.com's `markdown-body`. Used by `bench/screenshots.sh` for README's
//! pictures; not part of the product.

use std::io::Read;

const CSS: &str = r#"
body{margin:0;background:#fff}
.markdown-body{box-sizing:border-box;max-width:880px;margin:0 auto;padding:24px 28px;border:1px solid #d1d9e0;border-radius:6px;
 font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI","Noto Sans",Helvetica,Arial,sans-serif;color:#1f2328;word-wrap:break-word}
.markdown-body h3{font-size:1.25em;font-weight:600;margin:24px 0 16px;padding-bottom:.3em;border-bottom:1px solid #d1d9e0}
.markdown-body h4{font-size:1em;font-weight:600;margin:24px 0 12px}
.markdown-body p,.markdown-body ul,.markdown-body table,.markdown-body pre,.markdown-body details{margin:0 0 16px}
.markdown-body ul{padding-left:2em}.markdown-body li+li{margin-top:.25em}
.markdown-body code{font:85% ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,monospace;background:rgba(129,139,152,.12);padding:.2em .4em;border-radius:6px}
.markdown-body pre{background:#f6f8fa;padding:16px;border-radius:6px;overflow:auto}.markdown-body pre code{background:none;padding:0}
.markdown-body table{border-collapse:collapse;display:block;width:max-content;max-width:100%;overflow:auto}
.markdown-body th,.markdown-body td{padding:6px 13px;border:1px solid #d1d9e0}.markdown-body th{font-weight:600}
.markdown-body tr:nth-child(2n){background:#f6f8fa}
.markdown-body summary{cursor:pointer}.markdown-body sub{color:#59636e}
.markdown-body a{color:#0969da;text-decoration:none}
"#;

fn main() -> std::io::Result<()> {
    let mut markdown = String::new();
    std::io::stdin().read_to_string(&mut markdown)?;
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.autolink = true;
    options.render.r#unsafe = true;
    let body = comrak::markdown_to_html(&markdown, &options);
    print!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><style>{CSS}</style></head>\
         <body><div class=\"markdown-body\">{body}</div></body></html>"
    );
    Ok(())
}
