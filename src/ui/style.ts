/**
 * Served at `/ui/style.css`. Kept as a module rather than a .css file so that the build (tsc into
 * dist/) carries it and nothing is read from disk. The CSP allows no inline styles: all styling is here.
 */
export const STYLESHEET = `
:root {
  --ink: #1d2330; --muted: #5b6475; --line: #e3e5ea; --bg: #f6f7f9; --card: #fff;
  --accent: #1d4ed8; --bad: #b42318; --bad-bg: #fdf0ef; --good: #1a6e2e; --good-bg: #edf7ef;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
a { color: var(--accent); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .6rem; overflow-wrap: anywhere; }
h3 { font-size: 1rem; margin: 0 0 .5rem; overflow-wrap: anywhere; }

.top { display: flex; align-items: center; gap: 1.5rem; padding: .7rem 2rem; background: var(--card); border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; color: var(--ink); text-decoration: none; }
.top nav { display: flex; align-items: center; gap: 1.25rem; flex: 1; }
.top nav a { text-decoration: none; color: var(--muted); }
.top nav a[aria-current="page"] { color: var(--ink); font-weight: 600; }
.top nav form { margin-left: auto; }
main { max-width: 68rem; margin: 0 auto; padding: 1.5rem 2rem 3rem; }
main.wide { max-width: 100rem; }

form.inline { display: inline; margin: 0; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-end; margin: 0 0 1rem; }
label { display: block; font-size: 13px; color: var(--muted); }
input, select { font: inherit; padding: .4rem .55rem; border: 1px solid #c9cdd6; border-radius: 6px; background: #fff; color: var(--ink); }
input[type="search"], input[type="text"] { min-width: 14rem; }
/* Wide enough for its placeholder, "Phone, name, email or external id". */
input[type="search"] { min-width: 19rem; }
button { font: inherit; white-space: nowrap; padding: .4rem .9rem; border: 1px solid var(--accent); border-radius: 6px; background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.link { background: none; border: none; color: var(--muted); padding: 0; }
button.link:hover { color: var(--ink); text-decoration: underline; }

.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.25rem; }
.login { max-width: 24rem; margin: 4rem auto; }
.login input { width: 100%; margin: .25rem 0 1rem; }
.muted { color: var(--muted); }
/* The first Tab stop: past the nav to the page's own content, shown only while it has the focus. */
.skip { position: absolute; left: 1rem; top: -3rem; padding: .4rem .8rem; background: var(--card); border: 1px solid var(--accent); border-radius: 6px; z-index: 1; }
.skip:focus { top: .5rem; }
main:focus { outline: none; }
/* Read by screen readers, not shown: what the eye gets from the layout (an action column, a new tab). */
.visually-hidden { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }
.error { color: var(--bad); }
.flash { padding: .6rem .9rem; border-radius: 8px; margin: 0 0 1rem; border: 1px solid var(--line); }
.flash.ok { background: var(--good-bg); border-color: #b8dfc1; }
.flash.bad { background: var(--bad-bg); border-color: #f3c3bd; }

.chips { display: flex; flex-wrap: wrap; gap: .3rem; margin: 0; padding: 0; list-style: none; }
/* A pill on one line; a label long enough to wrap is a rounded box, its text inside it. */
.chip { display: inline-block; max-width: 100%; overflow-wrap: anywhere; padding: .05rem .6rem; border-radius: .75rem; background: #e8edfb; color: #1e3a8a; font-size: 13px; text-decoration: none; }

table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
th, td { padding: .5rem .7rem; text-align: left; vertical-align: top; border-bottom: 1px solid var(--line); overflow-wrap: break-word; }
/* What a CRM sent can be one long word (an id, an address): it wraps anywhere rather than widen the page. */
td.sent { overflow-wrap: anywhere; min-width: 6rem; }
/* An email address is short and reads badly broken: its column gives way last. */
td.sent.email { min-width: 12rem; }
th { font-size: 13px; color: var(--muted); font-weight: 600; white-space: nowrap; }
tr:last-child td { border-bottom: none; }
tr.refused td { background: var(--bad-bg); }
tr.refused td:first-child { box-shadow: inset 3px 0 0 var(--bad); }
.status { font-weight: 600; white-space: nowrap; }
time span { white-space: nowrap; }
td code { word-break: break-all; }
.status.refused { color: var(--bad); }
.status.applied { color: var(--good); }
.replayed { margin-top: .3rem; font-size: 14px; }
.pager { display: flex; gap: 1rem; margin: 1rem 0; }

.facts { display: grid; grid-template-columns: fit-content(40%) minmax(0, 1fr); gap: .3rem 1.25rem; margin: 0; }
.facts dt { color: var(--muted); overflow-wrap: anywhere; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
/* Each card as tall as its own items: one long section does not stretch its row's others. */
.blocks { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(18rem, 100%), 1fr)); gap: 1rem; align-items: start; }
.items { list-style: none; margin: 0; padding: 0; }
.jump { margin: 1rem 0 0; padding: .6rem 1rem; }
.jump ul { display: flex; flex-wrap: wrap; gap: .3rem 1rem; margin: 0; padding: 0; list-style: none; }
.jump a { overflow-wrap: anywhere; }
.items li { padding: .45rem 0; border-top: 1px solid var(--line); overflow-wrap: anywhere; }
.items li:first-child { border-top: none; padding-top: 0; }
.items .text { font-weight: 600; }
.items .description { display: block; color: var(--muted); font-size: 14px; }
.items .link { display: block; font-size: 13px; color: var(--muted); }

@media (max-width: 640px) {
  .top { padding: .6rem 1rem; gap: .75rem; flex-wrap: wrap; }
  main { padding: 1rem; }
  input[type="search"], input[type="text"] { min-width: 0; width: 100%; }
  .filters > * { flex: 1 1 100%; }
  .facts { grid-template-columns: 1fr; }
  .facts dd { margin-bottom: .4rem; }
}

/* Where there is room, a delivery's id is read on one line. */
@media (min-width: 80rem) {
  td code.id { white-space: nowrap; }
}

/* Up to a tablet held upright, a table's rows are cards: the deliveries' eight columns do not fit. */
@media (max-width: 56rem) {
  table, tbody, tr, td { display: block; width: 100%; }
  table { border: none; background: none; }
  thead { display: none; }
  tr { background: var(--card); border: 1px solid var(--line); border-radius: 10px; margin-bottom: .6rem; }
  td { border-bottom: none; padding: .25rem .8rem; }
  td[data-label]::before { content: attr(data-label); display: block; font-size: 12px; color: var(--muted); }
  td:empty { display: none; }
}
`;
