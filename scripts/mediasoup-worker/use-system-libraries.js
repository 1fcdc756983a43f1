'use strict';
// Rewrites a mediasoup 3.12 worker's meson files so that its C++ dependencies
// come from the system (pkg-config) instead of meson wrap subprojects, which
// are downloaded at build time. Debian 12 packages versions that satisfy the
// worker: OpenSSL 3, libuv 1.44, libsrtp2 2.5, usrsctp, abseil 20220623,
// nlohmann-json 3.11. No C++ source changes are needed.
//
// Usage: node use-system-libraries.js <mediasoup/worker folder>
const fs = require('node:fs');
const path = require('node:path');

// Declared once, before the worker's own dependency list reads them.
const SYSTEM_DEPENDENCIES = `
# System libraries (pkg-config) in place of wrap subprojects.
openssl_dep = dependency('openssl', version: '>= 3.0')
nlohmann_json_dep = dependency('nlohmann_json')
libuv_dep = dependency('libuv', version: '>= 1.44')
# libsrtp2.pc names /usr/include while the worker includes <srtp.h> from srtp2/.
libsrtp2_pkg = dependency('libsrtp2', version: '>= 2.5')
libsrtp2_dep = declare_dependency(
  dependencies: libsrtp2_pkg,
  compile_args: ['-I' + (libsrtp2_pkg.get_variable(pkgconfig: 'includedir') / 'srtp2')],
)
usrsctp_dep = dependency('usrsctp')
absl_container_dep = declare_dependency(dependencies: [
  dependency('absl_flat_hash_map'),
  dependency('absl_flat_hash_set'),
  dependency('absl_btree'),
  dependency('absl_memory'),
])
absl_strings_dep = dependency('absl_strings')
absl_types_dep = dependency('absl_optional')
catch2_dep = dependency('catch2', required: false)
`;

function dropSubprojectBlocks(text) {
  // `name_proj = subproject(` ... up to the `)` line at the same indentation.
  return text.replace(/^(\s*)\w+_proj = subproject\(\n[\s\S]*?^\1\)\n/gm, '');
}

function rewrite(workerDir) {
  const mainFile = path.join(workerDir, 'meson.build');
  const webrtcFile = path.join(workerDir, 'deps', 'libwebrtc', 'meson.build');
  let main = fs.readFileSync(mainFile, 'utf8');
  if (main.includes('System libraries (pkg-config)')) return; // already rewritten

  main = dropSubprojectBlocks(main);
  main = main.replace('libwebrtc_include_directories =', `${SYSTEM_DEPENDENCIES}\nlibwebrtc_include_directories =`);
  // Static libraries of subprojects were linked whole; system ones link normally.
  main = main.replace(/^\s*\w+_proj\.get_variable\('\w+_lib'\),\n/gm, '');
  main = main.replace(/^\s*\w+_proj\.get_variable\('(libuv|libsrtp2|usrsctp)'\),\n/gm, '');
  main = main.replace(/\w+_proj\.get_variable\('(\w+_dep)'\)/g, '$1');
  main = main.replace(/wingetopt_dep\b(?!\s*=)/g, "dependency('wingetopt')");
  fs.writeFileSync(mainFile, main);

  let webrtc = fs.readFileSync(webrtcFile, 'utf8');
  webrtc = dropSubprojectBlocks(webrtc);
  webrtc = webrtc.replace(/\w+_proj\.get_variable\('(\w+_dep)'\)/g, '$1');
  fs.writeFileSync(webrtcFile, webrtc);

  const left = (main + webrtc).split('\n').filter((line) => /_proj\b/.test(line) && !/wingetopt/.test(line));
  if (left.length > 0) throw new Error(`meson files still reference subprojects:\n${left.join('\n')}`);
}

module.exports = { rewrite };

if (require.main === module) rewrite(process.argv[2]);
