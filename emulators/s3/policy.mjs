// IAM policy documents for the test S3 server: rendering the shipped templates (s3/iam-policy.json,
// s3/iam-policy-cognito.json) for one user, and evaluating a policy where moto does not.
//
// moto 5.2.5 enforces actions and resources but ignores conditions it does not know (= allows), among them
// `StringLike` on `s3:prefix` for ListBucket (../../../shared/facts/s3-moto.md). The proxy evaluates the
// caller's policies itself for list requests, with the rules IAM documents: an explicit Deny wins, else an
// Allow is needed, else the request is implicitly denied; a statement applies when its action, resource and
// every condition match (values of one key: any; keys and operators: all). Operators it does not know make an
// Allow statement not apply and a Deny statement apply, so an unsupported policy fails closed.

/**
 * Renders a policy template: the template's bucket `arn:aws:s3:::my-recordings` becomes `bucket`, and each
 * `${variable}` in `vars` (e.g. { "aws:username": "alice" }) its value. Returns a new document.
 */
export function renderPolicy(template, { bucket, vars = {}, templateBucket = "my-recordings" }) {
  const render = (value) => {
    if (typeof value === "string") {
      let out = value.split(`arn:aws:s3:::${templateBucket}`).join(`arn:aws:s3:::${bucket}`);
      for (const [name, v] of Object.entries(vars)) out = out.split("${" + name + "}").join(v);
      return out;
    }
    if (Array.isArray(value)) return value.map(render);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [render(k), render(v)]));
    return value;
  };
  return render(template);
}

/** IAM's wildcard match: `*` any run, `?` one character. */
export function iamMatch(pattern, value, ignoreCase = false) {
  const escaped = String(pattern).replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[\\s\\S]*").replace(/\?/g, "[\\s\\S]");
  return new RegExp(`^${escaped}$`, ignoreCase ? "i" : "").test(String(value));
}

const list = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

const OPERATORS = {
  StringEquals: (have, want) => have === want,
  StringNotEquals: (have, want) => have !== want,
  StringEqualsIgnoreCase: (have, want) => have.toLowerCase() === want.toLowerCase(),
  StringNotEqualsIgnoreCase: (have, want) => have.toLowerCase() !== want.toLowerCase(),
  StringLike: (have, want) => iamMatch(want, have),
  StringNotLike: (have, want) => !iamMatch(want, have),
};

/** Whether one condition block holds for `context` (a map of condition keys to strings); null: unsupported. */
function conditionsHold(condition, context) {
  for (const [rawOperator, keys] of Object.entries(condition || {})) {
    const ifExists = rawOperator.endsWith("IfExists");
    const operator = ifExists ? rawOperator.slice(0, -"IfExists".length) : rawOperator;
    const test = OPERATORS[operator];
    if (!test) return null;
    const negated = operator.includes("Not");
    for (const [key, wanted] of Object.entries(keys)) {
      const have = context[key];
      if (have === undefined) {
        // A missing key satisfies ...IfExists and the negated operators, nothing else (IAM's rules).
        if (ifExists || negated) continue;
        return false;
      }
      const values = list(wanted).map(String);
      const ok = negated ? values.every((w) => test(have, w)) : values.some((w) => test(have, w));
      if (!ok) return false;
    }
  }
  return true;
}

function statementMatches(statement, { action, resource }) {
  const actionOk = statement.NotAction
    ? !list(statement.NotAction).some((p) => iamMatch(p, action, true))
    : list(statement.Action).some((p) => iamMatch(p, action, true));
  const resourceOk = statement.NotResource
    ? !list(statement.NotResource).some((p) => iamMatch(p, resource))
    : list(statement.Resource).some((p) => iamMatch(p, resource));
  return actionOk && resourceOk;
}

/**
 * Evaluates `documents` (the caller's policies) for one request; returns "Allow", "Deny" (explicit) or
 * "ImplicitDeny".
 */
export function evaluate(documents, { action, resource, context = {} }) {
  let allowed = false;
  for (const doc of documents) {
    for (const statement of list(doc.Statement)) {
      if (!statementMatches(statement, { action, resource })) continue;
      const holds = conditionsHold(statement.Condition, context);
      if (statement.Effect === "Deny" && holds !== false) return "Deny";
      if (statement.Effect === "Allow" && holds === true) allowed = true;
    }
  }
  return allowed ? "Allow" : "ImplicitDeny";
}
