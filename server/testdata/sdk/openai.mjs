// Runs the official openai package, unmodified, against conductor serve.
// Prints one JSON object with what each case saw; server/sdk_test.go
// checks it. CONDUCTOR_URL is the server, CONDUCTOR_TOKEN a gateway token.
import OpenAI from 'openai';

const base = process.env.CONDUCTOR_URL;
const apiKey = process.env.CONDUCTOR_TOKEN;
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 });
const messages = [{ role: 'user', content: 'Hi' }];
const out = {};

async function chat(c, model, extra = {}) {
  const r = await c.chat.completions.create({ model, messages, ...extra });
  return { id: r.id, content: r.choices[0].message.content, finish: r.choices[0].finish_reason, total: r.usage?.total_tokens ?? null };
}

async function stream(c, model) {
  const s = await c.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of s) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage.total_tokens;
  }
  return { text, usage, finish };
}

async function failure(fn) {
  try {
    await fn();
    return { thrown: false };
  } catch (e) {
    return {
      thrown: true,
      name: e.constructor.name,
      rateLimit: e instanceof OpenAI.RateLimitError,
      badRequest: e instanceof OpenAI.BadRequestError,
      apiError: e instanceof OpenAI.APIError,
      status: e.status ?? null,
      message: String(e.message),
    };
  }
}

out.chat = await chat(client, 'openai/gpt-4o-mini');
out.translated = await chat(client, 'anthropic/claude-3-5-sonnet-20241022');
out.stream = await stream(client, 'openai/gpt-4o-mini');
out.translatedStream = await stream(client, 'anthropic/claude-3-5-sonnet-20241022');
out.error429 = await failure(() => client.chat.completions.create(
  { model: 'openai/gpt-4o', messages: [{ role: 'user', content: '__status_429__' }] },
  { headers: { 'cf-aig-max-attempts': '1' } }));
out.error400 = await failure(() => client.chat.completions.create(
  { model: 'openai/gpt-4o', messages: [{ role: 'user', content: '__status_400__' }] }));
out.streamError = await failure(async () => {
  const s = await client.chat.completions.create({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: '__stream_error__' }] });
  for await (const _ of s) { /* read until the error */ }
});
out.unauthorized = await failure(() => new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong', maxRetries: 0 })
  .chat.completions.create({ model: 'openai/gpt-4o-mini', messages }));

// Cloudflare AI Gateway's path: only the base URL changes.
const cf = new OpenAI({ baseURL: `${base}/v1/acct0123/my-gateway/openai`, apiKey: 'sk-provider-key', maxRetries: 0,
  defaultHeaders: { 'cf-aig-authorization': `Bearer ${apiKey}` } });
out.cloudflare = await chat(cf, 'gpt-4o-mini');

// Tools, images, structured output, models and embeddings, as real
// applications send them.
const tools = [{ type: 'function', function: {
  name: 'get_weather', description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

// toolTurns runs a two-turn tool conversation: the model calls
// get_weather, the caller answers with the tool's result, the model
// answers in text. streamed reads the first turn through the SDK's
// stream helper, which assembles the call from its deltas.
async function toolTurns(model, streamed) {
  const msgs = [{ role: 'user', content: 'Weather in Paris?' }];
  let first;
  if (streamed) {
    const s = client.chat.completions.stream({ model, messages: msgs, tools, stream_options: { include_usage: true } });
    for await (const _ of s) { /* the helper accumulates */ }
    first = await s.finalChatCompletion();
  } else {
    first = await client.chat.completions.create({ model, messages: msgs, tools, tool_choice: 'auto' });
  }
  const m = first.choices[0].message;
  const call = m.tool_calls?.[0];
  msgs.push({ role: 'assistant', content: m.content ?? null, tool_calls: m.tool_calls });
  msgs.push({ role: 'tool', tool_call_id: call.id, content: '18°C, clear' });
  const second = await client.chat.completions.create({ model, messages: msgs, tools });
  return {
    calls: m.tool_calls.length, name: call.function.name, city: JSON.parse(call.function.arguments).city,
    idOk: typeof call.id === 'string' && call.id.length > 0,
    finish1: first.choices[0].finish_reason, answer: second.choices[0].message.content,
    finish2: second.choices[0].finish_reason,
  };
}

async function image(model) {
  const r = await client.chat.completions.create({ model, max_tokens: 64, messages: [{ role: 'user', content: [
    { type: 'text', text: 'What is in this image?' },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
    { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }] });
  return { content: r.choices[0].message.content, finish: r.choices[0].finish_reason };
}

async function structured(model) {
  const r = await client.chat.completions.create({ model, max_tokens: 64,
    messages: [{ role: 'user', content: 'Paris weather as JSON' }],
    response_format: { type: 'json_schema', json_schema: { name: 'weather', strict: true, schema: {
      type: 'object', properties: { temp_c: { type: 'number' } }, required: ['temp_c'], additionalProperties: false } } } });
  return { temp: JSON.parse(r.choices[0].message.content).temp_c, finish: r.choices[0].finish_reason };
}

out.tools = await toolTurns('openai/gpt-4o-mini', false);
out.toolsStream = await toolTurns('openai/gpt-4o-mini', true);
out.translatedTools = await toolTurns('anthropic/claude-3-5-sonnet-20241022', false);
out.translatedToolsStream = await toolTurns('anthropic/claude-3-5-sonnet-20241022', true);
out.image = await image('openai/gpt-4o-mini');
out.translatedImage = await image('anthropic/claude-3-5-sonnet-20241022');
out.structured = await structured('openai/gpt-4o-mini');
out.translatedStructured = await structured('anthropic/claude-sonnet-4-5');
out.refusedField = await failure(() => client.chat.completions.create(
  { model: 'anthropic/claude-3-5-sonnet-20241022', n: 3, messages }));

const models = [];
for await (const m of client.models.list()) models.push(m);
out.models = { count: models.length, hasAlias: models.some((m) => m.id === 'fast-chat'),
  hasOpenAI: models.some((m) => m.owned_by === 'openai'), object: models[0]?.object ?? null };

// The SDK asks for base64 unless told otherwise and decodes it itself.
const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['hello', 'world'] });
const ef = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: ['hello', 'world'], encoding_format: 'float' });
out.embeddings = { count: e.data.length, dimsOk: e.data[0].embedding.length > 0,
  same: Math.abs(e.data[0].embedding[0] - ef.data[0].embedding[0]) < 1e-6, tokensOk: e.usage.prompt_tokens > 0 };

console.log(JSON.stringify(out));
