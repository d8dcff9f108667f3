// A misbehaving OpenAI-style upstream for the gateway's tests: the model
// named in the request picks the fault. Prints "listening PORT" when ready.
//   fault-500      answers 500 with an error body
//   fault-garbage  answers 200 with a body that is not JSON
//   fault-slow     never answers (the gateway's first-byte timeout fires)
//   fault-drip     answers 200, then a byte now and then, slower than the idle timeout
//   fault-reset    closes the connection without answering
//   fault-ok       a canned completion with usage
import http from 'node:http';

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    if (req.method === 'GET') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    let model = '';
    try { model = JSON.parse(body).model; } catch { /* a bad body is answered as fault-ok */ }
    switch (model) {
      case 'fault-500':
        return res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom","type":"server_error"}}');
      case 'fault-garbage':
        return res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json at all');
      case 'fault-slow':
        return; // keep the socket open, answer nothing
      case 'fault-drip': {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{');
        const t = setInterval(() => res.write(' '), 3000);
        res.on('close', () => clearInterval(t));
        return;
      }
      case 'fault-reset':
        return req.socket.destroy();
      default:
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          id: 'x', object: 'chat.completion', created: 0, model,
          choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
        }));
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
