#!/usr/bin/env node
// Renders LaTeX that gradc printed with KaTeX and MathJax, as a reader's page would, and fails on
// the first construct either one rejects (double superscripts, a stray &, an unknown macro...).
//
//   node render_latex.js --golden            every golden case run with `--format latex`
//   node render_latex.js --log DIR --programs test_a,test_b
//                                            the strings the unit tests recorded in DIR
//                                            (tests/support/latex_log.hpp); every tests/*.cpp
//                                            that records must be one of the programs listed
//   node render_latex.js --self-test         known-bad strings must be rejected, good ones pass
//   node render_latex.js FILE...             each file is LaTeX output (`-` for stdin)
//
// Output is split into displays as a page shows it: an environment (`aligned`, `pmatrix`) from
// \begin to its \end is one display, every other non-empty line is one. Each display renders in
// display mode with errors thrown: KaTeX 0.16 (Debian's libjs-katex, strict) and MathJax 3 (npm's
// mathjax-full, TeX input with only the base and ams packages, the strictest setup a page has).
'use strict';
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const KATEX = process.env.GRADC_KATEX || '/usr/share/javascript/katex/katex.min.js';
const NODE_MODULES = process.env.GRADC_NODE_MODULES || path.join(ROOT, '.deps', 'node', 'node_modules');

function load() {
  let katex, mathjax;
  try {
    katex = require(KATEX);
  } catch (e) {
    throw new Error(`cannot load KaTeX from ${KATEX} (scripts/setup.sh installs libjs-katex): ${e.message}`);
  }
  try {
    const mj = (p) => require(path.join(NODE_MODULES, 'mathjax-full', 'js', p));
    const {mathjax: core} = mj('mathjax.js');
    const {TeX} = mj('input/tex.js');
    const {liteAdaptor} = mj('adaptors/liteAdaptor.js');
    const {RegisterHTMLHandler} = mj('handlers/html.js');
    mj('input/tex/base/BaseConfiguration.js');
    mj('input/tex/ams/AmsConfiguration.js');
    RegisterHTMLHandler(liteAdaptor());
    // Without formatError, MathJax renders an error as red text; a test wants it thrown.
    const tex = new TeX({packages: ['base', 'ams'], formatError: (jax, err) => { throw err; }});
    mathjax = core.document('', {InputJax: tex});
  } catch (e) {
    throw new Error(`cannot load MathJax from ${NODE_MODULES} (scripts/setup.sh installs mathjax-full): ${e.message}`);
  }
  return [
    ['KaTeX', (s) => katex.renderToString(s, {throwOnError: true, displayMode: true, strict: 'error'})],
    ['MathJax', (s) => mathjax.convert(s, {display: true})],
  ];
}

/// Splits printed LaTeX into displays (see the header).
function displays(text) {
  const out = [];
  let cur = [], depth = 0;
  for (const line of text.split('\n')) {
    if (depth === 0 && line.trim() === '') continue;
    cur.push(line);
    depth += (line.match(/\\begin\{/g) || []).length - (line.match(/\\end\{/g) || []).length;
    if (depth <= 0) {
      out.push(cur.join('\n'));
      cur = [];
      depth = 0;
    }
  }
  if (cur.length) out.push(cur.join('\n'));  // an unclosed environment: let the renderers say so
  return out;
}

/// The stdout of each golden case whose arguments ask for LaTeX, as [where, text] pairs.
function golden() {
  const dir = path.join(ROOT, 'tests', 'golden');
  const cases = fs.readFileSync(path.join(dir, 'cases.txt'), 'utf8').split('\n');
  const out = [];
  for (const line of cases) {
    if (!line.trim() || line.startsWith('#')) continue;
    const name = line.slice(0, line.indexOf(':'));
    if (!/--format[ =]latex\b/.test(line)) continue;
    const file = fs.readFileSync(path.join(dir, name + '.out'), 'utf8');
    const m = file.match(/\n--- stdout\n([\s\S]*)--- stderr\n/);
    if (!m) throw new Error(`${name}.out: no stdout section`);
    if (m[1].trim()) out.push([`golden ${name}`, m[1]]);
  }
  return out;
}

/// Strings the unit tests recorded: files of NUL-terminated records `where\x01latex`.
function logged(dir) {
  const out = [];
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
    for (const rec of fs.readFileSync(path.join(dir, f), 'utf8').split('\0')) {
      if (!rec) continue;
      const cut = rec.indexOf('\x01');
      out.push([cut < 0 ? f : rec.slice(0, cut), cut < 0 ? rec : rec.slice(cut + 1)]);
    }
  }
  return out;
}

function render(engines, sources) {
  let passed = 0, failed = 0;
  const seen = new Set();
  for (const [where, text] of sources) {
    for (const d of displays(text)) {
      if (seen.has(d)) continue;
      seen.add(d);
      const errors = [];
      for (const [name, fn] of engines) {
        try {
          fn(d);
        } catch (e) {
          errors.push(`${name}: ${e.message}`);
        }
      }
      if (errors.length) {
        failed++;
        console.log(`FAIL ${where}\n  ${errors.join('\n  ')}\n  in: ${d.split('\n').join('\n      ')}`);
      } else {
        passed++;
      }
    }
  }
  return [passed, failed];
}

// Strings each renderer must reject (the checker can fail) and strings both must accept.
const BAD = [
  'e^{x}^{2}',                        // the double superscript that powers of exp printed
  'x_{1}_{2}',
  'a &= b',                           // alignment outside an environment
  '\\left(x + 1',                     // unbalanced \left
  '\\mathit{net.0.W',                 // unbalanced brace
  '\\operatorname{relu}\\relu{x}',    // undefined macro
  '\\begin{aligned} a &= b \\\\',     // unclosed environment
];
const GOOD = [
  '\\left(e^{x}\\right)^{2}',
  '\\begin{aligned}\nt_{1} &= x y \\\\\nf &= 2 t_{1}\n\\end{aligned}',
  '\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}',
  'W_{\\text{net.0}}',
  '\\frac{\\partial^{2} f}{\\partial x \\partial y}',
];

function selfTest(engines) {
  let failed = 0;
  for (const s of BAD) {
    for (const [name, fn] of engines) {
      let threw = false;
      try { fn(s); } catch (e) { threw = true; }
      if (!threw) {
        failed++;
        console.log(`FAIL ${name} accepted the invalid ${JSON.stringify(s)}`);
      }
    }
  }
  const [ok, bad] = render(engines, GOOD.map((s) => ['self-test', s]));
  failed += bad;
  // The display splitter keeps an environment whole (its & and \\ only render inside it).
  const two = displays('a = b\n\\begin{aligned}\nx &= 1 \\\\\ny &= 2\n\\end{aligned}\nc = d\n');
  if (two.length !== 3 || !two[1].startsWith('\\begin{aligned}') || !two[1].endsWith('\\end{aligned}')) {
    failed++;
    console.log(`FAIL displays() split ${JSON.stringify(two)}`);
  }
  const checks = BAD.length * engines.length + ok + bad + 1;
  console.log(`${checks - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

function main(args) {
  let engines;
  try {
    engines = load();
  } catch (e) {
    console.log(`render_latex: ${e.message}`);
    return 1;
  }
  if (args[0] === '--self-test') return selfTest(engines);
  let sources = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--golden') {
      sources = sources.concat(golden());
    } else if (args[i] === '--log') {
      const got = logged(args[++i]);
      // Zero strings means the tests no longer record what they print (see latex_log.hpp).
      if (!got.length) {
        console.log(`render_latex: no LaTeX recorded in ${args[i]}`);
        return 1;
      }
      sources = sources.concat(got);
    } else if (args[i] === '--programs') {
      const listed = args[++i].split(',');
      const dir = path.join(ROOT, 'tests');
      for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.cpp')).sort()) {
        const uses = /\brendered\(/.test(fs.readFileSync(path.join(dir, f), 'utf8'));
        if (uses && !listed.includes(f.replace(/\.cpp$/, ''))) {
          console.log(`render_latex: tests/${f} records LaTeX, but CTest gives it no GRADC_LATEX_LOG: ` +
                      'add it to GRADC_LATEX_TESTS in tests/CMakeLists.txt');
          return 1;
        }
      }
    } else {
      const f = args[i];
      sources.push([f, fs.readFileSync(f === '-' ? 0 : f, 'utf8')]);
    }
  }
  const [passed, failed] = render(engines, sources);
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
