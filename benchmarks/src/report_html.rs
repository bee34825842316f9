//! `report.html`: one self-contained page (inline CSS, inline SVG charts, a few lines of inline
//! script for sorting and filtering the question table; nothing fetched from the network).

use std::fmt::Write as _;

use crate::report::{Report, Verdict};

/// Escape text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}\
.ex{font-size:2rem;font-weight:600}.muted{color:#666}\
table{border-collapse:collapse;font-size:.85rem;width:100%}\
th,td{border-bottom:1px solid #ddd;padding:.25rem .4rem;text-align:left;vertical-align:top}\
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}\
td.num{text-align:right}code{font-size:.8rem;word-break:break-word}\
.correct{color:#1a7f37}.wrong{color:#b35900}.error,.timeout{color:#c62828}.not_evaluable{color:#777}\
.charts{display:flex;flex-wrap:wrap;gap:2rem}\
#filter{margin:.5rem 0;padding:.3rem;width:20rem}";

const SCRIPT: &str = "const rows=[...document.querySelectorAll('#questions tbody tr')];\
function applyFilter(){const t=document.getElementById('filter').value.toLowerCase();\
const v=document.getElementById('verdict').value;\
for(const r of rows){const okT=!t||r.textContent.toLowerCase().includes(t);\
const okV=!v||r.dataset.verdict===v;r.style.display=okT&&okV?'':'none';}}\
document.getElementById('filter').addEventListener('input',applyFilter);\
document.getElementById('verdict').addEventListener('change',applyFilter);\
document.querySelectorAll('#questions th').forEach((th,i)=>th.addEventListener('click',()=>{\
const body=document.querySelector('#questions tbody');const asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';\
const key=r=>{const c=r.children[i];return c.dataset.sort!==undefined?parseFloat(c.dataset.sort):c.textContent;};\
rows.sort((a,b)=>{const x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(asc?1:-1);});\
rows.forEach(r=>body.appendChild(r));}));";

/// A vertical bar chart of EX per difficulty level, with counts under the bars.
fn ex_chart(report: &Report) -> String {
    let levels = &report.summary.by_difficulty;
    let (bar, gap, height) = (56.0, 24.0, 160.0);
    let width = levels.len() as f64 * (bar + gap) + gap;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"EX by difficulty\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\">",
        height + 60.0,
        height + 60.0
    );
    for (i, level) in levels.iter().enumerate() {
        let x = gap + i as f64 * (bar + gap);
        let h = level.ex * height;
        let y = 20.0 + height - h;
        let fill = if level.level == "all" {
            "#37474f"
        } else {
            "#1976d2"
        };
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y:.1}\" width=\"{bar}\" height=\"{h:.1}\" fill=\"{fill}\"><title>{}: {}/{}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{:.1}%</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#666\" text-anchor=\"middle\">{}/{}</text>",
            escape(&level.level),
            level.correct,
            level.questions,
            x + bar / 2.0,
            y - 4.0,
            level.ex * 100.0,
            x + bar / 2.0,
            height + 36.0,
            escape(&level.level),
            x + bar / 2.0,
            height + 52.0,
            level.correct,
            level.questions
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"0\" y1=\"{0}\" x2=\"{width}\" y2=\"{0}\" stroke=\"#999\"/></svg>",
        20.0 + height
    );
    svg
}

/// A horizontal bar chart of counts (verdicts or error kinds).
fn count_chart(label: &str, counts: &[(String, usize)]) -> String {
    if counts.is_empty() {
        return format!("<p class=\"muted\">No {}.</p>", escape(label));
    }
    let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1) as f64;
    let (row, label_width, bar_width) = (22.0, 170.0, 260.0);
    let height = counts.len() as f64 * row + 10.0;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{}\" width=\"{}\" height=\"{height}\">",
        escape(label),
        label_width + bar_width + 60.0
    );
    for (i, (name, n)) in counts.iter().enumerate() {
        let y = 5.0 + i as f64 * row;
        let w = (*n as f64 / max * bar_width).max(1.0);
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_width}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"#ef6c00\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{n}</text>",
            label_width - 6.0,
            y + 14.0,
            escape(name),
            row - 6.0,
            label_width + w + 4.0,
            y + 14.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The whole page.
pub fn render(report: &Report) -> String {
    let s = &report.summary;
    let mut html = String::with_capacity(64 * 1024 + report.questions.len() * 300);
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>learnat eval: {} {}</title><style>{STYLE}</style></head><body>",
        escape(&s.dataset),
        escape(&s.split)
    );
    let _ = write!(
        html,
        "<h1>learnat eval: {} {} — {}</h1><p class=\"ex\">EX {:.2}% <span class=\"muted\">({}/{})</span></p>",
        escape(&s.dataset),
        escape(&s.split),
        escape(&s.metric),
        s.ex * 100.0,
        s.correct,
        s.evaluable
    );
    let _ = write!(
        html,
        "<p>Predictions: <code>{}</code><br>Questions: <code>{}</code><br>Semantics: {}</p>",
        escape(&s.predictions),
        escape(&s.source),
        escape(&s.semantics)
    );
    if s.evaluable < s.questions {
        let reasons: Vec<String> = s
            .not_evaluable
            .iter()
            .map(|(r, n)| format!("{} ({n})", escape(r)))
            .collect();
        let _ = write!(
            html,
            "<p>{} of {} questions not evaluable, left out of EX: {}</p>",
            s.questions - s.evaluable,
            s.questions,
            reasons.join("; ")
        );
    }
    if let Some(ves) = &s.ves {
        let _ = write!(
            html,
            "<p>VES {:.2}, R-VES {:.2} ({} repetitions per correct question)</p>",
            ves.ves, ves.r_ves, ves.iterations
        );
    }
    let verdicts: Vec<(String, usize)> = s.verdicts.iter().map(|(k, v)| (k.clone(), *v)).collect();
    let kinds: Vec<(String, usize)> = s.error_kinds.iter().map(|(k, v)| (k.clone(), *v)).collect();
    let _ = write!(
        html,
        "<div class=\"charts\"><div><h2>EX by difficulty</h2>{}</div><div><h2>Verdicts</h2>{}</div><div><h2>Error kinds</h2>{}</div></div>",
        ex_chart(report),
        count_chart("verdicts", &verdicts),
        count_chart("errors", &kinds)
    );
    let _ = write!(
        html,
        "<p class=\"muted\">Run: {:.2} s wall, {} jobs, timeout {} s, {} resumed, {} gold executions, {} prediction executions, {} shared.</p>",
        s.run.wall_s,
        s.run.jobs,
        s.run.timeout_s,
        s.run.resumed,
        s.run.gold_executions,
        s.run.prediction_executions,
        s.run.shared_executions
    );
    if !s.warnings.is_empty() {
        html.push_str("<h2>Warnings</h2><ul>");
        for warning in &s.warnings {
            let _ = write!(html, "<li>{}</li>", escape(warning));
        }
        html.push_str("</ul>");
    }
    html.push_str("<h2>Questions</h2><input id=\"filter\" placeholder=\"filter (id, db, SQL, error…)\"> <select id=\"verdict\"><option value=\"\">all verdicts</option>");
    for verdict in [
        Verdict::Correct,
        Verdict::Wrong,
        Verdict::Error,
        Verdict::Timeout,
        Verdict::NotEvaluable,
    ] {
        let _ = write!(html, "<option value=\"{0}\">{0}</option>", verdict.name());
    }
    html.push_str(
        "</select><table id=\"questions\"><thead><tr><th>#</th><th>id</th><th>db</th><th>difficulty</th><th>verdict</th>\
         <th>error kind</th><th>gold ms</th><th>pred ms</th><th>gold rows</th><th>pred rows</th><th>prediction / message</th></tr></thead><tbody>",
    );
    for r in &report.questions {
        let number = |v: Option<f64>| {
            v.map(|v| format!("<td class=\"num\" data-sort=\"{v}\">{v:.2}</td>"))
                .unwrap_or_else(|| "<td class=\"num\" data-sort=\"-1\"></td>".into())
        };
        let count = |v: Option<usize>, capped: bool| {
            v.map(|v| {
                format!(
                    "<td class=\"num\" data-sort=\"{v}\">{v}{}</td>",
                    if capped { "+" } else { "" }
                )
            })
            .unwrap_or_else(|| "<td class=\"num\" data-sort=\"-1\"></td>".into())
        };
        let _ = write!(
            html,
            "<tr data-verdict=\"{v}\"><td class=\"num\" data-sort=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{v}\">{v}</td><td>{}</td>{}{}{}{}<td><code>{}</code>{}</td></tr>",
            r.index,
            r.index,
            escape(&r.id),
            escape(&r.db_id),
            escape(&r.difficulty),
            escape(r.error_kind.as_deref().unwrap_or("")),
            number(r.gold_ms),
            number(r.predicted_ms),
            count(r.gold_rows, false),
            count(r.predicted_rows, r.predicted_rows_capped),
            escape(r.prediction.as_deref().unwrap_or("")),
            r.error
                .as_deref()
                .map(|e| format!("<br><span class=\"muted\">{}</span>", escape(e)))
                .unwrap_or_default(),
            v = r.verdict.name(),
        );
    }
    let _ = writeln!(
        html,
        "</tbody></table><script>{SCRIPT}</script></body></html>"
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{dataset, description, record};
    use crate::report::{Report, RunStats};

    #[test]
    fn the_page_is_self_contained_and_escapes_text() {
        let data = dataset(&["easy"], &["easy", "easy"]);
        let mut hostile = record(1, "easy", Verdict::Error, Some("sql"));
        hostile.prediction = Some("SELECT '<script>alert(1)</script>'".into());
        let report = Report::build(
            &data,
            vec![record(0, "easy", Verdict::Correct, None), hostile],
            description(),
            RunStats::default(),
        );
        let html = render(&report);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<svg") && html.contains("EX 50.00%"));
        assert!(
            !html.contains("<script>alert"),
            "prediction text must be escaped"
        );
        assert!(html.contains("&lt;script&gt;alert(1)"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "nothing is fetched from the network"
        );
        assert_eq!(html.matches("<tr data-verdict=").count(), 2);
    }
}
