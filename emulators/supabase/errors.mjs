// Error answers of Supabase Storage, as measured from the real server (../../../shared/facts/supabase-storage.md)
// and read from its source (src/internal/errors/codes.ts, src/http/error-handler.ts).
//
// The REST routes answer almost every error with HTTP 400 and put the real status, as a STRING, in the body's
// `statusCode`; only 5xx errors keep their status. The body's keys come in the order of the server's error
// response schema: statusCode, error, message, code.

/** An error the routes throw; `send()` in routes.mjs renders it. */
export class StorageError extends Error {
  /**
   * @param {number} status the real status (goes into the body as a string)
   * @param {string} error the legacy `error` field
   * @param {string} message
   * @param {string} code the ErrorCode
   * @param {number} [httpStatus] the status line; 400 for every 4xx, as the server's error handler does
   */
  constructor(status, error, message, code, httpStatus) {
    super(message);
    this.status = status;
    this.error = error;
    this.code = code;
    this.httpStatus = httpStatus ?? (status >= 500 ? status : 400);
  }

  body() {
    return { statusCode: String(this.status), error: this.error, message: this.message, code: this.code };
  }
}

/** The errors the imitation answers, each as the real server renders it. */
export const ERRORS = {
  // Measured: upload to an existing key with x-upsert: false.
  keyAlreadyExists: () => new StorageError(409, "Duplicate", "The resource already exists", "KeyAlreadyExists"),
  bucketAlreadyExists: () => new StorageError(409, "Duplicate", "The resource already exists", "BucketAlreadyExists"),
  // Measured: a missing object, and one that RLS hides (another user's, or read with the anon key).
  noSuchKey: () => new StorageError(404, "not_found", "Object not found", "NoSuchKey"),
  noSuchBucket: () => new StorageError(404, "Bucket not found", "Bucket not found", "NoSuchBucket"),
  // Measured: writing into another user's folder, an anon upload, a user creating a bucket.
  rlsDenied: () =>
    new StorageError(403, "Unauthorized", "new row violates row-level security policy", "AccessDenied"),
  // Measured: a bad signature or an expired JWT; the message is jose's (the server uses jose too).
  accessDenied: (message) => new StorageError(403, "Unauthorized", message, "AccessDenied"),
  // Measured: no Authorization and no apikey (a Fastify schema validation error: `error` is "Error").
  missingAuthorization: () =>
    new StorageError(400, "Error", "headers must have required property 'authorization'", "InvalidRequest"),
  validation: (message) => new StorageError(400, "Error", message, "InvalidRequest"),
  invalidKey: (key) => new StorageError(400, "InvalidKey", `Invalid key: ${key}`, "InvalidKey"),
  invalidBucketName: () => new StorageError(400, "Invalid Input", "Bucket name invalid", "InvalidBucketName"),
  // The size limit answer: 413 in the body, HTTP 400.
  entityTooLarge: () =>
    new StorageError(413, "Payload too large", "The object exceeded the maximum allowed size", "EntityTooLarge"),
  invalidMimeType: (mime) => new StorageError(415, "invalid_mime_type", `mime type ${mime} is not supported`, "InvalidMimeType"),
  invalidJwt: (message) => new StorageError(400, "InvalidJWT", message || "Invalid JWT", "InvalidJWT"),
  invalidSignature: (message) =>
    new StorageError(400, "InvalidSignature", message || "Invalid signature", "InvalidSignature"),
  bucketNotEmpty: () =>
    new StorageError(409, "ResourceNotEmpty", "The bucket you tried to delete is not empty", "ResourceNotEmpty"),
  invalidParameter: (name) => new StorageError(400, "InvalidParameter", `Invalid Parameter ${name}`, "InvalidParameter"),
  noContent: () => new StorageError(400, "InvalidRequest", "No content provided", "InvalidRequest"),
  // Fastify's not-found handler: a real 404 (the Supabase client falls back to offset paging on it).
  routeNotFound: (method, url) =>
    new StorageError(404, "Not Found", `Route ${method}:${url} not found`, "InvalidRequest", 404),
  internal: (message) => new StorageError(500, "Internal", message || "Internal Server Error", "InternalError"),
};
