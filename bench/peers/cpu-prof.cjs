// Preloaded into a notifier process with NODE_OPTIONS=--require (Node 20 refuses --cpu-prof in
// NODE_OPTIONS): profiles the whole process and writes <BENCH_PROFILE_DIR>/<role>-<pid>.cpuprofile
// when it exits (the edge exits on SIGTERM). Used by peers/notifier.ts when BENCH_PROFILE_DIR is set.
/* eslint-disable */
const inspector = require('node:inspector');
const fs = require('node:fs');
const path = require('node:path');
const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err || !res) return;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `${process.argv[2] ?? 'node'}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
