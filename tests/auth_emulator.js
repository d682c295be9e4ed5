// Serve firebase-tools' own Auth emulator (lib/emulator/auth/server.js) on 127.0.0.1.
// `firebase emulators:start --only auth` serves the same app, but the CLI first waits for
// network look-ups (MOTD, remote config) that take minutes where the network is closed.
// Usage: node auth_emulator.js <firebase-tools dir> <project id>; prints "READY <port>".
const path = require("path");
const { createApp } = require(path.join(process.argv[2], "lib/emulator/auth/server.js"));

createApp(process.argv[3]).then((app) => {
  const server = app.listen(0, "127.0.0.1", () => {
    console.log("READY " + server.address().port);
  });
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
});
