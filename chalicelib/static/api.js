// Calls to the service's API with the session's token. A 401 is answered once by renewing
// the token and trying again; if that fails too, the session has ended.
import * as session from "./session.js";

let ended = () => {};

export function onSessionEnded(callback) {
  ended = callback;
}

async function send(method, path, body) {
  const headers = { Authorization: session.token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export async function api(method, path, body) {
  let response;
  try {
    response = await send(method, path, body);
    if (response.status === 401 && session.token() && (await session.renew())) {
      response = await send(method, path, body);
    }
  } catch {
    return { status: 0, ok: false, data: { Message: "The service cannot be reached; try again." } };
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { Message: text };
  }
  if (response.status === 401 && session.token())
    ended("Your session has ended; please sign in again.");
  return { status: response.status, ok: response.ok, data };
}

// Follows a route that answers 307 to a presigned link, and gives back that link.
export async function linkOf(path) {
  try {
    let response = await fetch(path, { headers: { Authorization: session.token() } });
    if (response.status === 401 && (await session.renew())) {
      response = await fetch(path, { headers: { Authorization: session.token() } });
    }
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      return { error: data.Message || `the service answered ${response.status}` };
    }
    return { url: response.url, blob: await response.blob() };
  } catch {
    return { error: "The service cannot be reached; try again." };
  }
}

export function messageOf(result) {
  const data = result.data || {};
  return data.Message || data.message || `the service answered ${result.status}`;
}

export const path = (...parts) => parts.map((part) => encodeURIComponent(part)).join("/");
