// Starts web-push-testing (npm) bound to 127.0.0.1 only; its own CLI binds every interface.
// Usage: node tests/webpushtesting.js PORT   -> prints "ready PORT" once listening.
const path = require("path");
const src = path.join(__dirname, "..", "node_modules", "web-push-testing", "src");
const WebPushTestingServer = require(path.join(src, "server.js"));
const { PushApiModel } = require(path.join(src, "PushApiModel.js"));

const port = Number(process.argv[2]);
const model = new PushApiModel();
const server = new WebPushTestingServer(model, port);
model.notifyUrl = `http://127.0.0.1:${port}/notify/`;
server._server = server._app.listen(port, "127.0.0.1", () => console.log(`ready ${port}`));
server._server.on("error", (error) => { console.error(error); process.exit(1); });
server.setRequestHandlers();
