// The signed-in session, against the stage's Cognito user pool (its public app client).
// The ID token lives only in memory. The refresh token is kept in sessionStorage: it lets a
// reload of this tab stay signed in, and it is gone when the tab is closed or the user signs
// out. The ID token is renewed five minutes before it expires, so a session lasts as long as
// the refresh token (30 days), not the ID token's hour.

const STORE = "image-service.session";
const RENEW_BEFORE_MS = 5 * 60_000;

let config = null;
let idToken = null;
let accessToken = null; // only to sign out everywhere (GlobalSignOut)
let renewTimer = null;
let onEnded = () => {};

export function configure(settings, whenEnded) {
  config = settings;
  onEnded = whenEnded;
}

export function token() {
  return idToken;
}

async function cognito(action, body) {
  let response;
  try {
    response = await fetch(config.cognitoEndpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
      },
      body: JSON.stringify({ ClientId: config.appClientId, ...body }),
    });
  } catch {
    return { error: "The sign-in service cannot be reached; try again." };
  }
  const result = await response.json().catch(() => ({}));
  if (response.ok) return { result };
  return {
    error: explain(result, response.status),
    kind: String(result.__type || "")
      .split("#")
      .pop(),
  };
}

function explain(result, status) {
  const kind = String(result.__type || "")
    .split("#")
    .pop();
  const known = {
    NotAuthorizedException: "Wrong user name or password.",
    UserNotFoundException: "Wrong user name or password.",
    PasswordResetRequiredException:
      "This account's password must be reset: use “Forgot your password?”.",
    UserNotConfirmedException: "This account is not confirmed yet.",
    CodeMismatchException: "That code is not right; check it and try again.",
    ExpiredCodeException: "That code has expired; ask for a new one.",
    InvalidPasswordException: `The new password is not strong enough: ${result.message || "choose a longer one."}`,
    LimitExceededException: "Too many attempts; wait a few minutes and try again.",
    TooManyRequestsException: "Too many attempts; wait a few minutes and try again.",
  };
  return known[kind] || result.message || `The sign-in service answered ${status}.`;
}

function established(authentication, username) {
  idToken = authentication.IdToken;
  accessToken = authentication.AccessToken || accessToken;
  const kept = JSON.parse(sessionStorage.getItem(STORE) || "{}");
  sessionStorage.setItem(
    STORE,
    JSON.stringify({
      username,
      refreshToken: authentication.RefreshToken || kept.refreshToken,
    }),
  );
  scheduleRenewal();
  return { token: idToken };
}

function expiryOf(jwt) {
  try {
    const payload = JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.exp * 1000;
  } catch {
    return Date.now() + 60 * 60_000;
  }
}

function scheduleRenewal() {
  clearTimeout(renewTimer);
  const wait = Math.max(10_000, expiryOf(idToken) - Date.now() - RENEW_BEFORE_MS);
  renewTimer = setTimeout(async () => {
    if (!(await renew())) onEnded("Your session has ended; please sign in again.");
  }, wait);
}

export async function signIn(username, password) {
  const { result, error } = await cognito("InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  if (error) return { error };
  if (result.AuthenticationResult) return established(result.AuthenticationResult, username);
  if (result.ChallengeName === "NEW_PASSWORD_REQUIRED") {
    return { challenge: "NEW_PASSWORD_REQUIRED", session: result.Session };
  }
  return {
    error: "This account needs a sign-in step this page does not offer; ask an administrator.",
  };
}

export async function setFirstPassword(username, session, newPassword) {
  const { result, error } = await cognito("RespondToAuthChallenge", {
    ChallengeName: "NEW_PASSWORD_REQUIRED",
    Session: session,
    ChallengeResponses: { USERNAME: username, NEW_PASSWORD: newPassword },
  });
  if (error) return { error };
  if (result.AuthenticationResult) return established(result.AuthenticationResult, username);
  return { error: "The password was set, but signing in needs another step; sign in again." };
}

export async function requestReset(username) {
  const { result, error } = await cognito("ForgotPassword", { Username: username });
  if (error) return { error };
  const where = result.CodeDeliveryDetails?.Destination;
  return { destination: where || null };
}

export async function confirmReset(username, code, newPassword) {
  const { error } = await cognito("ConfirmForgotPassword", {
    Username: username,
    ConfirmationCode: code,
    Password: newPassword,
  });
  return error ? { error } : { done: true };
}

// A new ID token from the refresh token; false when there is none or it no longer works.
export async function renew() {
  const kept = JSON.parse(sessionStorage.getItem(STORE) || "{}");
  if (!kept.refreshToken) return false;
  const { result, error } = await cognito("InitiateAuth", {
    AuthFlow: "REFRESH_TOKEN_AUTH",
    AuthParameters: { REFRESH_TOKEN: kept.refreshToken },
  });
  if (error || !result.AuthenticationResult) {
    forget();
    return false;
  }
  established(result.AuthenticationResult, kept.username);
  return true;
}

// Signing out ends the session at Cognito too, so the refresh token kept in this tab (or a
// copy of it) no longer gives new tokens; then forgets everything here.
export async function signOut() {
  if (accessToken) {
    await fetch(config.cognitoEndpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.GlobalSignOut",
      },
      body: JSON.stringify({ AccessToken: accessToken }),
    }).catch(() => null);
  }
  forget();
}

export function forget() {
  idToken = null;
  accessToken = null;
  clearTimeout(renewTimer);
  sessionStorage.removeItem(STORE);
}
