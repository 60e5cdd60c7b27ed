"""The HTML report's only stylesheet. Its SHA-256 goes into the page's CSP, so no other style can apply."""

CSS = """
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dee7;--bg:#f6f7fa;--card:#fff;--crit:#7a0019;--high:#c62828;
--med:#b26a00;--low:#1565c0;--info:#546e7a;--leak:#c62828;--ok:#2e7d32;--inc:#f9a825;--nt:#b0bec5}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main{max-width:1200px;margin:0 auto;padding:16px 24px}
header{border-bottom:1px solid var(--line);background:var(--card);max-width:none}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}h3{font-size:15px;margin:0}
.muted{color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}
.badge{display:inline-block;border-radius:3px;padding:1px 7px;font-size:12px;font-weight:600;color:#fff}
.s-critical{background:var(--crit)}.s-high{background:var(--high)}.s-medium{background:var(--med)}
.s-low{background:var(--low)}.s-info{background:var(--info)}
.st-complete{background:var(--ok)}.st-incomplete,.st-interrupted,.st-running{background:var(--med)}
.finding{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--high);border-radius:6px;
padding:12px 16px;margin:12px 0}
.finding.suppressed,.finding.absent{border-left-color:var(--nt);opacity:.85}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}dt{color:var(--muted)}dd{margin:0}
pre{background:#0f1420;color:#e6e9ef;padding:10px;border-radius:4px;overflow:auto;max-height:420px;
white-space:pre-wrap;word-break:break-all;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
code{font:12px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
table{border-collapse:collapse;background:var(--card);width:100%}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f6;font-weight:600}
td.check{white-space:nowrap}
td.v{text-align:center;font-weight:700;font-size:12px;white-space:nowrap}
.v-leak{background:var(--leak);color:#fff}.v-enforced{background:#c8e6c9;color:#1b5e20}
.v-inconclusive{background:#fff3c4;color:#6d4c00}.v-not-tested{background:#eceff1;color:#607d8b}
.warn{background:#fff3c4;border:1px solid var(--inc);padding:8px 12px;border-radius:4px;margin:6px 0}
.legend span{display:inline-block;padding:1px 8px;margin-right:8px;border-radius:3px}
footer{max-width:1200px;margin:24px auto;padding:0 24px;color:var(--muted);font-size:12px}
"""
