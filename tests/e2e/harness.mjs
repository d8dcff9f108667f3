// A tiny test runner for the end-to-end scripts: named async tests run in
// order; each failure is printed with the top of its stack; the process
// exits non-zero when any failed.
const tests = [];

export function test(name, fn) {
  tests.push({ name, fn });
}

export async function run() {
  let failed = 0;
  for (const t of tests) {
    try {
      await t.fn();
      console.log(`ok   ${t.name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${t.name}\n     ${(e.stack || e).toString().split('\n').slice(0, 6).join('\n     ')}`);
    }
  }
  console.log(`${tests.length - failed}/${tests.length} passed`);
  process.exit(failed ? 1 : 0);
}
