// Stand-ins for systemctl, journalctl and scp inside the docs test's
// sandboxed "hosts" (test/docs/sandbox.ts), where there is no systemd and no
// ssh. Plain JavaScript (node shim.mjs NAME ARGS…), no dependencies.
//
// systemctl reads the unit file the guide installed (/etc/systemd/system/…)
// and starts its ExecStart= line as it is, so the unit's command line is
// tested, with what can be applied without systemd: User=/Group= (setpriv),
// CapabilityBoundingSet= (setpriv --bounding-set: the daemon really runs
// with only those capabilities), NoNewPrivileges=, LimitMEMLOCK=/LimitNOFILE=
// (prlimit), UMask=, Environment= and EnvironmentFile= (a leading '-': the
// file may be missing), $VAR and ${VAR} in ExecStart=, the specifiers %H, %p,
// %n, %N, %i and %%, RuntimeDirectory=/StateDirectory=/LogsDirectory= (made,
// with their modes and owner), KillMode= on stop, a clean environment,
// working directory /. Type=notify is started like Type=simple (nothing
// waits for its READY=1). Not applied: the sandboxing
// options (ProtectSystem=, SystemCallFilter=, …), Restart=; the unit files
// are checked with systemd-analyze verify instead. The service's output goes
// to a file that journalctl prints.
//
// scp copies between the sandbox hosts: HOST:PATH is PATH in that host's
// mount namespace (the hosts are listed in $DOCTEST_HOSTS).
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';

const [, , name, ...args] = process.argv;
const STATE = process.env.DOCTEST_DIR;
const die = (msg, code = 1) => { process.stderr.write(`${name} (doc-test shim): ${msg}\n`); process.exit(code); };
if (!STATE) die('DOCTEST_DIR is not set');

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const alive = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const st = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return st !== 'Z' && st !== 'X';
  } catch { return false; }
};

// ---- systemctl ----

function unitName(u) { return u.includes('.') ? u : `${u}.service`; }

function readUnit(u) {
  for (const dir of ['/etc/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system']) {
    const f = join(dir, u);
    if (existsSync(f)) return parseUnit(readFileSync(f, 'utf8'));
  }
  return die(`Unit ${u} not found.`, 5);
}

/** key → list of values, per section; an empty assignment resets the list, as in systemd. */
function parseUnit(text) {
  const sections = {};
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) { cur = sec[1]; sections[cur] ??= {}; continue; }
    const i = line.indexOf('=');
    if (i < 0) continue;
    const k = line.slice(0, i).trim(), v = line.slice(i + 1).trim();
    const s = (sections[cur] ??= {});
    if (v === '') s[k] = [''];
    else s[k] = [...(s[k] ?? []).filter((x) => x !== ''), v];
  }
  return sections;
}

const svc = (unit, key) => unit.Service?.[key];
const one = (unit, key) => svc(unit, key)?.at(-1);
const pidFile = (u) => join(STATE, 'units', `${u}.pid`);
const logFile = (u) => join(STATE, 'journal', `${u}.log`);
const mainPid = (u) => { try { const p = Number(readFileSync(pidFile(u), 'utf8')); return alive(p) ? p : undefined; } catch { return undefined; } };

function userIds(user) {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[0] === user);
  if (!line) die(`User ${user} does not exist (Failed to determine user credentials)`, 217);
  const [, , uid, gid, , home] = line.split(':');
  return { uid: Number(uid), gid: Number(gid), home };
}
function groupId(group) {
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[0] === group);
  if (!line) die(`Group ${group} does not exist`, 216);
  return Number(line.split(':')[2]);
}

function words(s) {
  const out = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m;
  while ((m = re.exec(s))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  return out;
}

/** systemd's specifiers in a unit's values (systemd.unit(5), "Specifiers"): the few units here use. */
function specifiers(u, s) {
  const name = u.slice(0, u.lastIndexOf('.'));
  const at = name.indexOf('@');
  const table = { H: hostname(), n: u, N: name, p: at < 0 ? name : name.slice(0, at), i: at < 0 ? '' : name.slice(at + 1), '%': '%' };
  return s.replace(/%(.)/g, (m, c) => (c in table ? table[c] : die(`${u}: specifier %${c} is not supported here`)));
}

/** Environment=, then each EnvironmentFile= (which override it, as in systemd); "-" before a file: it may be missing. */
function environment(u, unit, env) {
  for (const e of (svc(unit, 'Environment') ?? []).flatMap(words)) { const i = e.indexOf('='); env[e.slice(0, i)] = specifiers(u, e.slice(i + 1)); }
  for (const raw of svc(unit, 'EnvironmentFile') ?? []) {
    const optional = raw.startsWith('-');
    const file = specifiers(u, optional ? raw.slice(1) : raw);
    if (!existsSync(file)) { if (optional) continue; die(`${u}: Failed to load environment files: ${file} does not exist`, 1); }
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const l = line.trim();
      if (!l || l.startsWith('#') || l.startsWith(';')) continue;
      const i = l.indexOf('=');
      if (i < 0) continue;
      const v = l.slice(i + 1).trim();
      env[l.slice(0, i).trim()] = /^(["']).*\1$/.test(v) ? v.slice(1, -1) : v;
    }
  }
}

/** ExecStart='s words with $VAR (split into words, none when empty) and ${VAR} (one word) expanded from the unit's environment. */
function expand(argv, env) {
  return argv.flatMap((w) => {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w);
    if (whole) return (env[whole[1]] ?? '').split(/\s+/).filter(Boolean);
    return [w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k) => env[k] ?? '')];
  });
}

function start(u) {
  if (mainPid(u)) return;
  const unit = readUnit(u);
  const exec = one(unit, 'ExecStart');
  if (!exec) die(`${u}: no ExecStart=`);
  const user = one(unit, 'User'), group = one(unit, 'Group');
  const ids = user && user !== 'root' ? userIds(user) : undefined;
  const gid = group ? groupId(group) : ids?.gid;
  for (const [key, base] of [['RuntimeDirectory', '/run'], ['StateDirectory', '/var/lib'], ['LogsDirectory', '/var/log'], ['ConfigurationDirectory', '/etc']]) {
    for (const d of (svc(unit, key) ?? []).flatMap(words)) {
      const p = join(base, d);
      mkdirSync(p, { recursive: true });
      chmodSync(p, parseInt(one(unit, `${key}Mode`) ?? '0755', 8));
      if (ids && key !== 'ConfigurationDirectory') chownSync(p, ids.uid, gid ?? ids.gid);
    }
  }
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', ...(ids ? { HOME: ids.home, USER: user, LOGNAME: user } : { HOME: '/root' }) };
  environment(u, unit, env);
  const argv = expand(words(specifiers(u, exec)).map((w, i) => (i === 0 ? w.replace(/^[-@+!:]+/, '') : w)), env);
  const priv = ['setpriv'];
  if (ids) priv.push(`--reuid=${ids.uid}`, `--regid=${gid}`, '--init-groups');
  const caps = svc(unit, 'CapabilityBoundingSet');
  if (caps) {
    const keep = caps.flatMap(words).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`);
    priv.push(`--bounding-set=-all${keep.length ? `,${keep.join(',')}` : ''}`, '--inh-caps=-all', '--ambient-caps=-all');
  }
  if (one(unit, 'NoNewPrivileges') === 'yes') priv.push('--no-new-privs');
  // Limits as asked, but no higher than this machine lets us raise them (systemd
  // could; a container without CAP_SYS_RESOURCE cannot): said in the journal.
  const limits = [];
  const notes = [];
  const hard = (what) => {
    const row = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(what));
    const h = row?.slice(what.length).trim().split(/\s+/)[1];
    return h === 'unlimited' || h === undefined ? Infinity : Number(h);
  };
  for (const [key, flag, what] of [['LimitMEMLOCK', 'memlock', 'Max locked memory'], ['LimitNOFILE', 'nofile', 'Max open files']]) {
    const v = one(unit, key);
    if (!v) continue;
    const want = v === 'infinity' ? Infinity : Number(v);
    const got = Math.min(want, hard(what));
    if (got < want) notes.push(`${key}=${v}: this machine's hard limit is ${got}; using that`);
    limits.push(`--${flag}=${got === Infinity ? 'unlimited' : got}`);
  }
  const cmd = [...(limits.length ? ['prlimit', ...limits, '--'] : []), ...(priv.length > 1 ? [...priv, '--'] : []), ...argv];
  mkdirSync(join(STATE, 'units'), { recursive: true });
  mkdirSync(join(STATE, 'journal'), { recursive: true });
  appendFileSync(logFile(u), `-- doc-test shim: starting ${u}: ${cmd.join(' ')}\n${notes.map((n) => `-- doc-test shim: ${n}\n`).join('')}`);
  const out = openSync(logFile(u), 'a');
  if (one(unit, 'UMask')) process.umask(parseInt(one(unit, 'UMask'), 8));
  const child = spawn(cmd[0], cmd.slice(1), { cwd: '/', env, detached: true, stdio: ['ignore', out, out] });
  child.unref();
  writeFileSync(pidFile(u), String(child.pid));
}

function descendants(pid) {
  const kids = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
    } catch { /* gone */ }
  }
  const out = [];
  const walk = (p) => { for (const k of kids.get(p) ?? []) { out.push(k); walk(k); } };
  walk(pid);
  return out;
}

function stop(u) {
  const unit = readUnit(u);
  const pid = mainPid(u);
  if (pid) {
    const mode = one(unit, 'KillMode') ?? 'control-group';
    const victims = mode === 'process' || mode === 'none' ? [pid] : [pid, ...descendants(pid)];
    for (const p of victims) { try { process.kill(p, 'SIGTERM'); } catch { /* gone */ } }
    for (let i = 0; i < 400 && victims.some(alive); i++) sleep(50);
    for (const p of victims.filter(alive)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    for (let i = 0; i < 100 && victims.some(alive); i++) sleep(50);
    appendFileSync(logFile(u), `-- doc-test shim: stopped ${u}\n`);
  }
  rmSync(pidFile(u), { force: true });
  if (one(unit, 'RuntimeDirectoryPreserve') !== 'yes') {
    // systemd removes the directory; here it may be a mount point: empty it.
    for (const d of (svc(unit, 'RuntimeDirectory') ?? []).flatMap(words)) {
      const p = join('/run', d);
      if (existsSync(p)) for (const f of readdirSync(p)) rmSync(join(p, f), { recursive: true, force: true });
    }
  }
}

function systemctl() {
  const flags = new Set(args.filter((a) => a.startsWith('-')));
  const [verb, ...units] = args.filter((a) => !a.startsWith('-'));
  for (const f of flags) if (!['--now', '--no-pager', '-q', '--quiet', '--no-block'].includes(f)) die(`unsupported flag ${f}`);
  const us = units.map(unitName);
  switch (verb) {
    case 'daemon-reload': return;
    case 'start': us.forEach(start); return;
    case 'stop': us.forEach(stop); return;
    case 'restart': us.forEach((u) => { stop(u); start(u); }); return;
    case 'enable':
      for (const u of us) { readUnit(u); mkdirSync(join(STATE, 'units'), { recursive: true }); writeFileSync(join(STATE, 'units', `${u}.enabled`), ''); if (flags.has('--now')) start(u); }
      return;
    case 'disable':
      for (const u of us) { rmSync(join(STATE, 'units', `${u}.enabled`), { force: true }); if (flags.has('--now')) stop(u); }
      return;
    case 'is-active': {
      const all = us.map((u) => !!mainPid(u));
      if (!flags.has('-q') && !flags.has('--quiet')) process.stdout.write(all.map((a) => (a ? 'active' : 'inactive')).join('\n') + '\n');
      process.exit(all.every(Boolean) ? 0 : 3);
      return;
    }
    case 'status': {
      let ok = true;
      for (const u of us) {
        const pid = mainPid(u);
        ok &&= !!pid;
        process.stdout.write(`● ${u}\n     Active: ${pid ? `active (running)\n   Main PID: ${pid}` : 'inactive (dead)'}\n`);
      }
      process.exit(ok ? 0 : 3);
      return;
    }
    default: die(`unsupported: systemctl ${args.join(' ')}`);
  }
}

// ---- journalctl ----

function journalctl() {
  const units = [];
  let n;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-u' || a === '--unit') units.push(unitName(args[++i]));
    else if (a.startsWith('--unit=')) units.push(unitName(a.slice(7)));
    else if (a === '-n' || a === '--lines') n = Number(args[++i]);
    else if (['--no-pager', '-q', '-b', '-o', 'cat'].includes(a)) { if (a === '-o') i++; }
    else die(`unsupported argument ${a}`);
  }
  if (!units.length) die('give -u UNIT');
  let lines = units.flatMap((u) => { try { return readFileSync(logFile(u), 'utf8').split('\n').filter(Boolean); } catch { return []; } });
  if (n !== undefined) lines = lines.slice(-n);
  if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
}

// ---- scp ----

function scp() {
  const hosts = JSON.parse(readFileSync(process.env.DOCTEST_HOSTS, 'utf8'));
  const paths = args.filter((a) => !a.startsWith('-'));
  for (const f of args.filter((a) => a.startsWith('-'))) if (!['-q', '-p'].includes(f)) die(`unsupported flag ${f}`);
  if (paths.length < 2) die('usage: scp [-q] [-p] SOURCE… TARGET');
  const where = (spec) => {
    const m = /^(?:[^@/:]+@)?([A-Za-z0-9.-]+):(.*)$/.exec(spec);
    const host = m ? m[1] : process.env.DOCTEST_HOST;
    if (!hosts[host]) die(`ssh: Could not resolve hostname ${host}`, 255);
    return { pid: hosts[host].holder, path: m ? m[2] || '.' : spec };
  };
  const inHost = (pid, argv, input) => execFileSync('nsenter', [`--mount=/proc/${pid}/ns/mnt`, '--', ...argv], { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'inherit'] });
  const to = where(paths.at(-1));
  for (const s of paths.slice(0, -1)) {
    const from = where(s);
    const data = inHost(from.pid, ['cat', from.path]);
    const mode = inHost(from.pid, ['stat', '-c', '%a', from.path]).toString().trim();
    inHost(to.pid, ['sh', '-c', 'd="$1"; [ -d "$d" ] && d="$d/$2"; new=; [ -e "$d" ] || new=1; cat > "$d"; [ -z "$new" ] || chmod "$3" "$d"', 'sh', to.path, basename(from.path), mode], data);
  }
}

switch (name) {
  case 'systemctl': systemctl(); break;
  case 'journalctl': journalctl(); break;
  case 'scp': scp(); break;
  default: die('unknown shim');
}
