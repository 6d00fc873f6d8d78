import assert from "node:assert/strict";
import { test } from "node:test";
import { isPublishSubject, isSubscribeSubject } from "./subject-syntax.js";
import { isSubjectToken, SubjectTokenError, subjects } from "./subjects.js";

test("subject names", () => {
  assert.equal(subjects.request(3), "impp.req.3");
  assert.equal(subjects.serviceQueue(3), "impp.svc.3");
  assert.equal(subjects.edge("edge-1"), "impp.edge.edge-1");
  assert.equal(subjects.event("device-gone"), "impp.evt.device-gone");
  assert.equal(subjects.eventQueue("device-gone", "presence"), "impp.svc.presence.device-gone");
  assert.ok(isPublishSubject(subjects.request(0xffff)));
  assert.ok(isPublishSubject(subjects.event("device-gone")));
  assert.throws(() => subjects.event("a.b"), SubjectTokenError);
});

test("tokens with dots, wildcards or whitespace are refused", () => {
  for (const bad of ["", "a.b", "*", ">", "a*", "a>", "a b", "a\tb", "a\nb", "a\u00a0b"]) {
    assert.equal(isSubjectToken(bad), false, JSON.stringify(bad));
    assert.throws(() => subjects.edge(bad), SubjectTokenError);
  }
  for (const good of ["edge-1", "pod_7f9c", "ünïcode"]) assert.equal(isSubjectToken(good), true);
  for (const bad of [-1, 65536, 1.5, Number.NaN])
    assert.throws(() => subjects.request(bad), SubjectTokenError);
});

test("subject syntax", () => {
  for (const s of ["a", "a.b", "a.b-c.d_e", "a*b.c"]) assert.ok(isPublishSubject(s), s);
  for (const s of ["", ".", "a.", ".a", "a..b", "a b", "a.*", "*", ">", "a.>"])
    assert.ok(!isPublishSubject(s), s);
  for (const s of ["a.*", "*", ">", "a.>", "*.b.>", "a.*.c"]) assert.ok(isSubscribeSubject(s), s);
  for (const s of ["", "a.>.b", ">.a", "a..*", "a *"]) assert.ok(!isSubscribeSubject(s), s);
});
