/* cotrace's C core: the hot events of a recording, in C.
 *
 * The Python state machine (tracer/record/machine.py) is the reference.
 * This module does, for the events generator-dense runs are made of, exactly
 * what the machine would do, on the same state:
 *
 *   - the resumption of a suspended, known generator or coroutine by a known
 *     resumer (send, next, for, yield from, await), held back as the
 *     machine's pending entry, and the resolution of a pending entry as an
 *     ordinary one;
 *   - a plain yield (not of an async generator, not one whose "waits on"
 *     label needs asyncio introspection).
 *
 * Everything else (starts, returns, throws, closes, unwinds, first sight of a
 * code object or a call site, finalization, synthetic events, the limit) is
 * handed to the machine's Python handler before anything is changed: every
 * condition is checked first, then the state is updated.  The state is the
 * machine's own: the object and thread records are the C types below, whose
 * fields the Python code reads and writes as attributes.
 *
 * The value sent into a resumed frame is read at the offsets that
 * tracer.record.framepeek found and verified at start-up (its StackView
 * of the frame), never at offsets guessed here.
 *
 * Built for CPython 3.11-3.13 with the GIL; the module refuses to load on
 * any other interpreter (tracer.record.core checks BUILT_FOR as well).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <frameobject.h>
#include <time.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030E0000
#error "cotrace's C core supports CPython 3.11-3.13 only"
#endif
#ifdef Py_GIL_DISABLED
#error "cotrace's C core does not support free-threaded builds"
#endif

#if PY_VERSION_HEX >= 0x030C0000
#define PyErr_GetRaisedException_compat PyErr_GetRaisedException
#define PyErr_SetRaisedException_compat PyErr_SetRaisedException
#else
static PyObject *
PyErr_GetRaisedException_compat(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL)
        return NULL;
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

static void
PyErr_SetRaisedException_compat(PyObject *exc)
{
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
}
#endif

#define NEW 0
#define RUNNING 1
#define SUSPENDED 2
#define DONE 3

/* site flags (see core.site_info) */
#define SITE_DELEGATING 1
#define SITE_CLOSES_WITHOUT_REENTRY 2
#define SITE_YIELD 4

#define ANY_GENERATOR (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)

static PyObject *s_unwind, *s_e, *s_yield, *s_resume, *s_start, *s_call, *s_return, *s_other, *s_throw, *s_close,
    *s_next, *s_for, *s_yield_from, *s_await, *s_async_for, *s_asend, *s_anext, *s_generator,
    *s_coroutine, *s_async_generator, *s_gi_suspended, *s_cr_suspended, *s_gi_running,
    *s_cr_running, *s_name_attr, *s_asyncio, *s_buf, *s_f_trace_lines, *s_collecting,
    *s_deferred, *s_deliver, *s_flush, *s_gi_frame, *s_cr_frame, *s_ag_frame, *s_first, *s_last, *s_sp, *s_base, *s_first_local, *s_ints;

/* Each type's PyObject fields are listed once (an X-macro): the struct,
 * traverse, clear and the attributes are made from that list. */
#define DECLARE(name) PyObject *name;
#define VISIT(name) Py_VISIT(self->name);
#define CLEAR(name) Py_CLEAR(self->name);
#define NONE(name) Py_XSETREF(self->name, Py_NewRef(Py_None));
/* the same for a list of (name, type) entries */
#define DECLARE2(name, type) DECLARE(name)
#define VISIT2(name, type) VISIT(name)
#define CLEAR2(name, type) CLEAR(name)

/* one dealloc for every type here: untrack, clear, free */
static void
gc_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    Py_TYPE(self)->tp_clear(self);
    Py_TYPE(self)->tp_free(self);
}

/* ------------------------------------------------------------------ Obj */

/* machine.Obj's fields, each an attribute of the same name (view has its own setter, below) */
#define OBJ_ATTRS(X) X(id) X(kind) X(resumer) X(delegate) X(delegator) X(synthetic) X(dying) X(ref) \
    X(excs) X(fast_close) X(frame_id) X(yield_line) X(on)
#define OBJ_FIELDS(X) OBJ_ATTRS(X) X(view)

typedef struct {
    PyObject_HEAD
    OBJ_FIELDS(DECLARE)
    int state;
    int exc_lasti;
    /* the frame's value stack, from its StackView (vready 1) */
    int vready;
    int vptr;
    char *vbase;
    Py_ssize_t vfirst, vlast, vsp, vfirst_local;
} ObjObject;

static PyTypeObject ObjType;

static int
obj_init(ObjObject *self, PyObject *args, PyObject *kw)
{
    PyObject *oid, *kind, *frame_id;
    if (!PyArg_ParseTuple(args, "OOO", &oid, &kind, &frame_id))
        return -1;
    PyObject *excs = PyList_New(0);
    if (excs == NULL)
        return -1;
    OBJ_FIELDS(NONE)
    Py_SETREF(self->id, Py_NewRef(oid));
    Py_SETREF(self->kind, Py_NewRef(kind));
    Py_SETREF(self->frame_id, Py_NewRef(frame_id));
    Py_SETREF(self->excs, excs);
    Py_SETREF(self->synthetic, Py_NewRef(Py_False));
    Py_SETREF(self->dying, Py_NewRef(Py_False));
    Py_SETREF(self->fast_close, Py_NewRef(Py_False));
    self->state = NEW;
    self->exc_lasti = -1;
    self->vready = 0;
    return 0;
}

static int
obj_traverse(ObjObject *self, visitproc visit, void *arg)
{
    OBJ_FIELDS(VISIT)
    return 0;
}

static int
obj_clear(ObjObject *self)
{
    OBJ_FIELDS(CLEAR)
    return 0;
}

#define OBJ_MEMBER(name) {#name, T_OBJECT, offsetof(ObjObject, name), 0, NULL},
static PyMemberDef obj_members[] = {
    OBJ_ATTRS(OBJ_MEMBER)
    {"state", T_INT, offsetof(ObjObject, state), 0, NULL},
    {"exc_lasti", T_INT, offsetof(ObjObject, exc_lasti), 0, NULL},
    {NULL}
};

static PyObject *
obj_get_view(ObjObject *self, void *closure)
{
    return Py_NewRef(self->view ? self->view : Py_None);
}

static int
obj_set_view(ObjObject *self, PyObject *value, void *closure)
{
    if (value == NULL)
        value = Py_None;
    Py_XSETREF(self->view, Py_NewRef(value));
    self->vready = 0;  /* read again at the next resumption */
    return 0;
}

static PyGetSetDef obj_getset[] = {
    {"view", (getter)obj_get_view, (setter)obj_set_view, NULL, NULL},
    {NULL}
};

static PyTypeObject ObjType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracer.record._ccore.Obj",
    .tp_doc = "Recorder-side state of one generator, coroutine or async generator (see machine.Obj).",
    .tp_basicsize = sizeof(ObjObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)obj_init,
    .tp_dealloc = gc_dealloc,
    .tp_traverse = (traverseproc)obj_traverse,
    .tp_clear = (inquiry)obj_clear,
    .tp_members = obj_members,
    .tp_getset = obj_getset,
};

/* ---------------------------------------------------------- ThreadState */

/* machine.ThreadState's fields */
#define TS_FIELDS(X) X(ident) X(pending) X(serial) X(thread) X(last_yield)

typedef struct {
    PyObject_HEAD
    TS_FIELDS(DECLARE)
} TSObject;

static PyTypeObject TSType;

static int
ts_init(TSObject *self, PyObject *args, PyObject *kw)
{
    PyObject *ident, *serial, *thread = Py_None;
    if (!PyArg_ParseTuple(args, "OO|O", &ident, &serial, &thread))
        return -1;
    TS_FIELDS(NONE)
    Py_SETREF(self->ident, Py_NewRef(ident));
    Py_SETREF(self->serial, Py_NewRef(serial));
    Py_SETREF(self->thread, Py_NewRef(thread));
    return 0;
}

static int
ts_traverse(TSObject *self, visitproc visit, void *arg)
{
    TS_FIELDS(VISIT)
    return 0;
}

static int
ts_clear(TSObject *self)
{
    TS_FIELDS(CLEAR)
    return 0;
}

#define TS_MEMBER(name) {#name, T_OBJECT, offsetof(TSObject, name), 0, NULL},
static PyMemberDef ts_members[] = {
    TS_FIELDS(TS_MEMBER)
    {NULL}
};

static PyTypeObject TSType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracer.record._ccore.ThreadState",
    .tp_doc = "Per-thread recorder state (see machine.ThreadState): ThreadState(ident, serial, thread=None).",
    .tp_basicsize = sizeof(TSObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ts_init,
    .tp_dealloc = gc_dealloc,
    .tp_traverse = (traverseproc)ts_traverse,
    .tp_clear = (inquiry)ts_clear,
    .tp_members = ts_members,
};

/* ----------------------------------------------------------------- Core */

/* what bind() takes by keyword, with the type it must have (NULL: any):
 * the machine's tables, then its collaborators */
#define CORE_BOUND(X) \
    X(records, &PyDict_Type) X(decisions, &PyDict_Type) X(by_id, &PyDict_Type) X(closable, &PySet_Type) \
    X(loops, &PySet_Type) X(resumers, &PyDict_Type) X(sites, &PyDict_Type) \
    X(writer, NULL) X(guard, NULL) X(gc_phase, NULL) X(handle, NULL) X(decide, NULL) X(thread_state, NULL) \
    X(site_info, NULL) X(repr, NULL) X(task, NULL) X(thread_name, NULL) X(failed, NULL) X(lazy_type, NULL) \
    X(disable, NULL) X(poll_close, NULL)
#define CORE_FIELDS(X) CORE_BOUND(X) X(lock_acquire, NULL) X(lock_release, NULL) X(tskey, NULL) X(busy, NULL)

typedef struct {
    PyObject_HEAD
    CORE_FIELDS(DECLARE2)
    long long t0;
    long long flush_by;  /* Sink._flush_by: a batch waits at most until this event time */
    long long poll_tick;
    long long seq;
    Py_ssize_t count, limit, batch, tuple_scalars;
    long long flush_ns;
    int active;
    int may_skip;     /* 3.13: close() may finish a generator without entering it */
    int want_flush;   /* the writer's buffer reached its batch size */
    /* framepeek.FRAME_STATE: the frame-state byte of generator-like objects
     * (st_off < 0: unknown), what "running" reads as, and the two bytes
     * "suspended" may read as (see hold_running) */
    Py_ssize_t st_off;
    unsigned char st_running, st_susp[2];
    long long fast_events, slow_events;
} CoreObject;

static PyTypeObject CoreType;

static int
core_traverse(CoreObject *self, visitproc visit, void *arg)
{
    CORE_FIELDS(VISIT2)
    return 0;
}

static int
core_clear(CoreObject *self)
{
    CORE_FIELDS(CLEAR2)
    return 0;
}

static PyObject *
core_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    CoreObject *c = (CoreObject *)type->tp_alloc(type, 0);
    if (c == NULL)
        return NULL;
    c->busy = Py_NewRef(Py_None);
    c->limit = PY_SSIZE_T_MAX;
    c->tskey = PyUnicode_FromFormat("cotrace.core.ts.%p", (void *)c);
    if (c->tskey == NULL) {
        Py_DECREF(c);
        return NULL;
    }
    return (PyObject *)c;
}

#define BOUND_ENTRY(name, type) {#name, offsetof(CoreObject, name), type},
static const struct {
    const char *name;
    Py_ssize_t offset;
    PyTypeObject *type;
} core_bound[] = {CORE_BOUND(BOUND_ENTRY)};

static PyObject *
core_bind(CoreObject *c, PyObject *args, PyObject *kw)
{
    if (PyTuple_GET_SIZE(args) || kw == NULL) {
        PyErr_SetString(PyExc_TypeError, "bind() takes keyword arguments only");
        return NULL;
    }
    PyObject *lock = PyDict_GetItemString(kw, "lock");
    PyObject *may_skip = PyDict_GetItemString(kw, "may_skip");
    PyObject *tuple_scalars = PyDict_GetItemString(kw, "tuple_scalars");
    PyObject *frame_state = PyDict_GetItemString(kw, "frame_state");
    PyObject *flush_ns = PyDict_GetItemString(kw, "flush_ns");
    Py_ssize_t n = sizeof core_bound / sizeof core_bound[0];
    if (lock == NULL || may_skip == NULL || tuple_scalars == NULL || frame_state == NULL || flush_ns == NULL ||
            PyDict_GET_SIZE(kw) != n + 5) {
        PyErr_Format(PyExc_TypeError, "bind() takes exactly lock, may_skip, tuple_scalars, frame_state, flush_ns "
                     "and the %zd tables and collaborators (see _ccore.c)", n);
        return NULL;
    }
    long long fns = PyLong_AsLongLong(flush_ns);
    if (fns == -1 && PyErr_Occurred())
        return NULL;
    /* frame_state: None, or (offset, running byte, suspended byte, suspended byte) */
    Py_ssize_t st_off = -1;
    int st[3] = {0, 0, 0};
    if (frame_state != Py_None) {
        if (!PyArg_ParseTuple(frame_state, "niii;bind(): frame_state must be (offset, running, suspended, "
                              "suspended)", &st_off, &st[0], &st[1], &st[2]))
            return NULL;
        for (int i = 0; i < 3; i++) {
            if (st[i] < 0 || st[i] > 255 || st_off < (Py_ssize_t)sizeof(PyObject)) {
                PyErr_SetString(PyExc_ValueError, "bind(): frame_state out of range");
                return NULL;
            }
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyDict_GetItemString(kw, core_bound[i].name);
        if (v == NULL || (core_bound[i].type != NULL && !PyObject_TypeCheck(v, core_bound[i].type))) {
            PyErr_Format(PyExc_TypeError, "bind(): %s is missing or of the wrong type", core_bound[i].name);
            return NULL;
        }
    }
    Py_ssize_t ts = PyLong_AsSsize_t(tuple_scalars);
    if (ts == -1 && PyErr_Occurred())
        return NULL;
    PyObject *batch = PyObject_GetAttrString(PyDict_GetItemString(kw, "writer"), "batch");
    if (batch == NULL)
        return NULL;
    Py_ssize_t b = PyLong_AsSsize_t(batch);
    Py_DECREF(batch);
    if (b == -1 && PyErr_Occurred())
        return NULL;
    PyObject *acq = PyObject_GetAttrString(lock, "acquire");
    if (acq == NULL)
        return NULL;
    PyObject *rel = PyObject_GetAttrString(lock, "release");
    if (rel == NULL) {
        Py_DECREF(acq);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject **field = (PyObject **)((char *)c + core_bound[i].offset);
        Py_XSETREF(*field, Py_NewRef(PyDict_GetItemString(kw, core_bound[i].name)));
    }
    Py_XSETREF(c->lock_acquire, acq);
    Py_XSETREF(c->lock_release, rel);
    c->may_skip = PyObject_IsTrue(may_skip) > 0;
    c->st_off = st_off;
    c->st_running = (unsigned char)st[0];
    c->st_susp[0] = (unsigned char)st[1];
    c->st_susp[1] = (unsigned char)st[2];
    c->tuple_scalars = ts;
    c->flush_ns = c->flush_by = fns;
    c->batch = b;
    Py_RETURN_NONE;
}

/* ---- small helpers */

static inline long long
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);  /* what time.perf_counter_ns() reads on Linux */
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int
is_true(PyObject *o)
{
    return o == Py_True || (o != Py_False && o != Py_None && o != NULL && PyObject_IsTrue(o) > 0);
}

/* borrowed item of dict ``d`` keyed by the address ``p``, or NULL (no error) */
static PyObject *
get_by_addr(PyObject *d, void *p, int *err)
{
    PyObject *key = PyLong_FromVoidPtr(p);
    if (key == NULL) {
        *err = 1;
        return NULL;
    }
    PyObject *v = PyDict_GetItemWithError(d, key);
    Py_DECREF(key);
    if (v == NULL && PyErr_Occurred())
        *err = 1;
    return v;
}

/* the generator object behind a weak reference (new reference), or NULL */
static PyObject *
deref(PyObject *ref)
{
    if (ref == NULL || ref == Py_None || !PyWeakref_Check(ref))
        return NULL;
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *obj = NULL;
    if (PyWeakref_GetRef(ref, &obj) < 0) {
        PyErr_Clear();
        return NULL;
    }
    return obj;
#else
    PyObject *obj = PyWeakref_GetObject(ref);
    if (obj == NULL || obj == Py_None) {
        PyErr_Clear();
        return NULL;
    }
    return Py_NewRef(obj);
#endif
}

/* site info (flags, via) of ``code`` at ``lasti`` (new reference), or NULL with an error */
static PyObject *
site(CoreObject *c, PyObject *code, int lasti)
{
    int err = 0;
    PyObject *per = get_by_addr(c->sites, code, &err);
    if (err)
        return NULL;
    PyObject *key = PyLong_FromLong(lasti);
    if (key == NULL)
        return NULL;
    PyObject *hit = per != NULL ? PyDict_GetItemWithError(per, key) : NULL;
    if (hit != NULL)
        Py_INCREF(hit);
    else if (!PyErr_Occurred()) {
        /* first time at this location: the Python side works it out (and fills the table) */
        hit = PyObject_CallFunctionObjArgs(c->site_info, code, key, NULL);
        if (hit != NULL && (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 2)) {
            Py_CLEAR(hit);
            PyErr_SetString(PyExc_TypeError, "site_info must return (flags, via)");
        }
    }
    Py_DECREF(key);
    return hit;
}

/* the flags of a site, or -1 with an error */
static long
site_flags(CoreObject *c, PyObject *code, int lasti)
{
    PyObject *s = site(c, code, lasti);
    if (s == NULL)
        return -1;
    long flags = PyLong_AsLong(PyTuple_GET_ITEM(s, 0));
    Py_DECREF(s);
    return flags;
}

/* Sink.val: (value, raw) as new references.  The scalar types are
 * saferepr.IMMUTABLE_SCALARS (the module's SCALAR_TYPES, which core.py
 * checks against them before using this core). */
static inline int
is_scalar(PyObject *v)
{
    return v == Py_None || PyBool_Check(v) || PyLong_CheckExact(v) || PyFloat_CheckExact(v) ||
           PyComplex_CheckExact(v) || PyUnicode_CheckExact(v) || PyBytes_CheckExact(v);
}

static int
val(CoreObject *c, PyObject *v, PyObject **value, PyObject **raw)
{
    int scalar = is_scalar(v);
    if (!scalar && PyTuple_CheckExact(v) && PyTuple_GET_SIZE(v) <= c->tuple_scalars) {
        scalar = 1;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(v); i++) {
            if (!is_scalar(PyTuple_GET_ITEM(v, i))) {
                scalar = 0;
                break;
            }
        }
    }
    if (scalar) {
        *value = Py_NewRef(v);
        *raw = Py_NewRef(Py_True);
        return 0;
    }
    PyObject *text = PyObject_CallOneArg(c->repr, v);
    if (text == NULL)
        return -1;
    *value = text;
    *raw = Py_NewRef(Py_False);
    return 0;
}

/* Sink.val(v, yielding): val() with ``gen``, in the middle of yielding
 * ``v``, marked running while a repr runs (framepeek.hold_running: a repr
 * that resumes it gets "generator already executing" instead of re-entering
 * a frame still on the stack) */
static int
val_yielding(CoreObject *c, PyObject *v, PyObject *gen, PyObject **value, PyObject **raw)
{
    if (gen == NULL || c->st_off < 0 || is_scalar(v))
        return val(c, v, value, raw);
    unsigned char *cell = (unsigned char *)gen + c->st_off;
    unsigned char old = *cell;
    int held = old == c->st_susp[0] || old == c->st_susp[1];
    if (held)
        *cell = c->st_running;
    int r = val(c, v, value, raw);
    if (held && *cell == c->st_running)
        *cell = old;
    return r;
}

/* the top of the value stack of rec's frame (borrowed), or NULL: no value */
static PyObject *
stack_top(ObjObject *rec)
{
    if (rec->vready != 1)
        return NULL;
    Py_ssize_t slot;
    if (rec->vptr) {
        Py_ssize_t p = ((Py_ssize_t *)rec->vbase)[rec->vsp];
        slot = (p - (Py_ssize_t)rec->vbase) / (Py_ssize_t)sizeof(void *) - 1;
    }
    else {
        slot = rec->vfirst_local + ((int *)rec->vbase)[rec->vsp] - 1;
    }
    if (!(rec->vfirst <= slot && slot < rec->vlast))
        return NULL;
    return ((PyObject **)rec->vbase)[slot];
}

static Py_ssize_t
int_attr(PyObject *o, PyObject *name, int *err)
{
    PyObject *v = PyObject_GetAttr(o, name);
    if (v == NULL) {
        *err = 1;
        return 0;
    }
    Py_ssize_t r = PyLong_AsSsize_t(v);
    Py_DECREF(v);
    if (r == -1 && PyErr_Occurred())
        *err = 1;
    return r;
}

/* read the StackView the Python side made into rec's C fields; -1 on error */
static int
load_view(ObjObject *rec)
{
    int err = 0;
    PyObject *view = rec->view;
    Py_ssize_t base = int_attr(view, s_base, &err);
    Py_ssize_t first = int_attr(view, s_first, &err);
    Py_ssize_t last = int_attr(view, s_last, &err);
    Py_ssize_t sp = int_attr(view, s_sp, &err);
    Py_ssize_t first_local = int_attr(view, s_first_local, &err);
    if (err)
        return -1;
    PyObject *ints = PyObject_GetAttr(view, s_ints);
    if (ints == NULL)
        return -1;
    rec->vptr = ints == Py_None;
    Py_DECREF(ints);
    rec->vbase = (char *)base;
    rec->vfirst = first;
    rec->vlast = last;
    rec->vsp = sp;
    rec->vfirst_local = first_local;
    rec->vready = 1;
    return 0;
}

/* Sink.emit for an event of the fast path (the limit was checked before) */
static int
emit(CoreObject *c, TSObject *ts, PyObject *ev, PyObject *oid, PyObject *by, PyObject *via, PyObject *value,
     PyObject *raw, PyObject *line, long long t, PyObject *on)
{
    PyObject *name = NULL, *task = NULL, *rec = NULL, *buf = NULL, *seq = NULL, *tt = NULL;
    if (ts->thread != Py_None) {
        name = PyObject_GetAttr(ts->thread, s_name_attr);
        if (name == NULL)
            PyErr_Clear();
        else if (!PyUnicode_CheckExact(name))
            Py_CLEAR(name);
    }
    if (name == NULL) {
        name = PyObject_CallNoArgs(c->thread_name);
        if (name == NULL)
            return -1;
    }
    PyObject *aio = PyDict_GetItemWithError(PyImport_GetModuleDict(), s_asyncio);
    if (aio == NULL && PyErr_Occurred())
        goto fail;
    task = aio == NULL ? Py_NewRef(Py_None) : PyObject_CallOneArg(c->task, aio);
    if (task == NULL)
        goto fail;
    c->count++;
    seq = PyLong_FromLongLong(++c->seq);
    tt = PyLong_FromLongLong(t);
    if (seq == NULL || tt == NULL)
        goto fail;
    rec = PyTuple_New(14);
    if (rec == NULL)
        goto fail;
    /* the order of traceio.EVENT_FIELDS */
    PyTuple_SET_ITEM(rec, 0, Py_NewRef(s_e));
    PyTuple_SET_ITEM(rec, 1, seq);
    PyTuple_SET_ITEM(rec, 2, tt);
    seq = tt = NULL;
    PyTuple_SET_ITEM(rec, 3, Py_NewRef(ev));
    PyTuple_SET_ITEM(rec, 4, Py_NewRef(oid));
    PyTuple_SET_ITEM(rec, 5, Py_NewRef(by));
    PyTuple_SET_ITEM(rec, 6, Py_NewRef(via));
    PyTuple_SET_ITEM(rec, 7, Py_NewRef(value));
    PyTuple_SET_ITEM(rec, 8, Py_NewRef(raw));
    PyTuple_SET_ITEM(rec, 9, Py_NewRef(line));
    PyTuple_SET_ITEM(rec, 10, name);
    PyTuple_SET_ITEM(rec, 11, task);
    name = task = NULL;
    PyTuple_SET_ITEM(rec, 12, Py_NewRef(Py_False));
    PyTuple_SET_ITEM(rec, 13, Py_NewRef(on));
    buf = PyObject_GetAttr(c->writer, s_buf);
    if (buf == NULL || !PyList_Check(buf) || PyList_Append(buf, rec) < 0) {
        if (buf != NULL && !PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "writer.buf is not a list");
        goto fail;
    }
    if (PyList_GET_SIZE(buf) >= c->batch || t >= c->flush_by) {
        c->want_flush = 1;  /* by dispatch, once the event is done */
        c->flush_by = t + c->flush_ns;
    }
    Py_DECREF(buf);
    Py_DECREF(rec);
    return 0;
fail:
    Py_XDECREF(name); Py_XDECREF(task); Py_XDECREF(rec); Py_XDECREF(buf); Py_XDECREF(seq); Py_XDECREF(tt);
    return -1;
}

/* the held-back entry of ``ts`` as an ordinary resumption (machine._resolve) */
static int
resolve(CoreObject *c, TSObject *ts)
{
    PyObject *p = ts->pending;
    if (p == Py_None)
        return 0;
    ts->pending = Py_NewRef(Py_None);
    /* (rec, frame_id, lasti, start, by, via, value, raw, line, chain, t) */
    ObjObject *rec = (ObjObject *)PyTuple_GET_ITEM(p, 0);
    int start = PyTuple_GET_ITEM(p, 3) == Py_True;
    PyObject *by = PyTuple_GET_ITEM(p, 4);
    PyObject *via = PyTuple_GET_ITEM(p, 5);
    long long t = PyLong_AsLongLong(PyTuple_GET_ITEM(p, 10));
    if (t == -1 && PyErr_Occurred()) {
        Py_DECREF(p);
        return -1;
    }
    if (start && via != Py_None && (PyUnicode_Compare(via, s_throw) == 0 || PyUnicode_Compare(via, s_close) == 0))
        via = s_other;
    int r = emit(c, ts, start ? s_start : s_resume, rec->id, by, via,
                 start ? Py_None : PyTuple_GET_ITEM(p, 6), PyTuple_GET_ITEM(p, 7), PyTuple_GET_ITEM(p, 8), t,
                 Py_None);
    if (r == 0)
        Py_SETREF(rec->resumer, Py_NewRef(by));
    Py_DECREF(p);
    return r;
}

/* can the pending entry of ts be resolved here (not a possible finalization)? */
static inline int
pending_ok(CoreObject *c, TSObject *ts)
{
    PyObject *p = ts->pending;
    if (p == Py_None)
        return 1;
    if (!PyTuple_Check(p))
        return 0;
    if (PyTuple_GET_SIZE(p) != 11 || Py_TYPE(PyTuple_GET_ITEM(p, 0)) != &ObjType)
        return 0;
    return (PyObject *)Py_TYPE(PyTuple_GET_ITEM(p, 4)) != c->lazy_type;
}

static inline int
str_in(PyObject *s, PyObject *a, PyObject *b, PyObject *d)
{
    if (s == NULL || s == Py_None)
        return 0;
    return s == a || s == b || s == d || PyUnicode_Compare(s, a) == 0 || PyUnicode_Compare(s, b) == 0 ||
           (d != NULL && PyUnicode_Compare(s, d) == 0);
}

#define FALLBACK 1

/* is rec (a delegator, suspended) running its generator right now? (machine._is_running) */
static int
is_running(ObjObject *rec)
{
    PyObject *attr = NULL;
    if (rec->kind == s_generator || PyUnicode_Compare(rec->kind, s_generator) == 0)
        attr = s_gi_running;
    else if (rec->kind == s_coroutine || PyUnicode_Compare(rec->kind, s_coroutine) == 0)
        attr = s_cr_running;
    if (attr == NULL)
        return 0;
    PyObject *gen = deref(rec->ref);
    if (gen == NULL)
        return 0;
    PyObject *v = PyObject_GetAttr(gen, attr);
    Py_DECREF(gen);
    if (v == NULL) {
        PyErr_Clear();
        return 0;
    }
    int r = is_true(v);
    Py_DECREF(v);
    return r;
}

/* machine._poll_fast_closed: 3.13's generators that close() finished
 * without running them; the closes themselves are the machine's */
static int
poll_fast_closed(CoreObject *c)
{
    c->poll_tick++;
    Py_ssize_t n = PySet_GET_SIZE(c->closable);
    if (n > 64 && c->poll_tick % 64)
        return 0;
    PyObject *items = PySequence_List(c->closable);
    if (items == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        ObjObject *rec = (ObjObject *)PyList_GET_ITEM(items, i);
        if (Py_TYPE(rec) != &ObjType)
            continue;
        if (rec->state != SUSPENDED) {
            if (PySet_Discard(c->closable, (PyObject *)rec) < 0)
                goto fail;
            continue;
        }
        ObjObject *d = (ObjObject *)rec->delegator;
        if ((PyObject *)d != Py_None && Py_TYPE(d) == &ObjType && d->state == SUSPENDED &&
                d->delegate == (PyObject *)rec)
            continue;  /* closed through its delegator: recorded with the delegator's close */
        PyObject *gen = deref(rec->ref);
        if (gen == NULL)
            continue;
        PyObject *attr = rec->kind == s_generator || PyUnicode_Compare(rec->kind, s_generator) == 0 ? s_gi_frame
            : rec->kind == s_coroutine || PyUnicode_Compare(rec->kind, s_coroutine) == 0 ? s_cr_frame : s_ag_frame;
        PyObject *f = PyObject_GetAttr(gen, attr);
        Py_DECREF(gen);
        if (f == NULL)
            goto fail;
        Py_DECREF(f);
        if (f == Py_None) {
            PyObject *r = PyObject_CallOneArg(c->poll_close, (PyObject *)rec);
            if (r == NULL)
                goto fail;
            Py_DECREF(r);
        }
    }
    Py_DECREF(items);
    return 0;
fail:
    Py_DECREF(items);
    return -1;
}

/* An entry (call / PY_START / PY_RESUME).  0: done, FALLBACK: nothing changed,
 * the Python handler must do it, -1: error. */
static int
fast_entry(CoreObject *c, TSObject *ts, PyFrameObject *frame)
{
    int err = 0, result = FALLBACK;
    PyFrameObject *fb = NULL;
    PyCodeObject *fcode = NULL;
    PyObject *by = NULL, *via = NULL, *value = NULL, *raw = NULL, *fid = NULL, *line = NULL, *chain = NULL;
    PyObject *p = NULL, *lasti_o = NULL, *t_o = NULL;
    ObjObject *r = NULL;
    int delegating = 0;

    ObjObject *rec = (ObjObject *)get_by_addr(c->records, frame, &err);
    if (err)
        return -1;
    if (rec == NULL || Py_TYPE(rec) != &ObjType || rec->state != SUSPENDED)
        return FALLBACK;
    Py_INCREF(rec);
    if (!pending_ok(c, ts))
        goto done;
    Py_ssize_t n = PySet_GET_SIZE(c->closable);
    int poll = 0;
    if (n) {
        int has = PySet_Contains(c->closable, (PyObject *)rec);
        if (has < 0)
            goto error;
        poll = n > 1 || !has;  /* look for silently closed generators (3.13) */
    }
    if (c->count + 2 + (poll ? 2 * n : 0) > c->limit)
        goto done;
    fb = PyFrame_GetBack(frame);
    if (fb == NULL)
        goto done;
    fcode = PyFrame_GetCode(fb);
    PyObject *d = get_by_addr(c->decisions, fcode, &err);
    if (err)
        goto error;
    if (d != NULL && is_true(d)) {
        r = (ObjObject *)get_by_addr(c->records, fb, &err);
        if (err)
            goto error;
        if (r != NULL) {
            if (Py_TYPE(r) != &ObjType || r->state == SUSPENDED) {
                r = NULL;   /* (borrowed: not released at done) */
                goto done;  /* a chain of outer generators passing a throw down */
            }
            Py_INCREF(r);
        }
    }
    else if (fcode->co_flags & ANY_GENERATOR)
        goto done;  /* an unrecorded (or undecided) generator passing control along */
    if (rec->delegator != Py_None) {
        ObjObject *dl = (ObjObject *)rec->delegator;
        if (Py_TYPE(dl) != &ObjType)
            goto done;
        if (dl->state == SUSPENDED && dl->delegate == (PyObject *)rec && (is_true(dl->dying) || is_running(dl)))
            goto done;
    }
    int fb_lasti = PyFrame_GetLasti(fb);
    if (r != NULL && r->state == RUNNING) {
        PyObject *s = site(c, (PyObject *)fcode, fb_lasti);
        if (s == NULL)
            goto error;
        via = Py_NewRef(PyTuple_GET_ITEM(s, 1));
        Py_DECREF(s);
        if (str_in(via, s_async_for, s_asend, s_anext))
            goto done;
        delegating = str_in(via, s_yield_from, s_await, NULL);
        by = Py_NewRef(r->id);
    }
    else {
        if (is_true(rec->dying))
            goto done;
        PyObject *collecting = PyObject_GetAttr(c->gc_phase, s_collecting);
        if (collecting == NULL)
            goto error;
        int col = is_true(collecting);
        Py_DECREF(collecting);
        if (col)
            goto done;
        PyObject *here = get_by_addr(c->resumers, fcode, &err);
        if (err)
            goto error;
        if (here == NULL)
            goto done;  /* a new call site: the machine names it */
        PyObject *key = PyTuple_New(2);
        if (key == NULL)
            goto error;
        PyObject *li = PyLong_FromLong(fb_lasti);
        if (li == NULL) {
            Py_DECREF(key);
            goto error;
        }
        PyTuple_SET_ITEM(key, 0, li);
        PyTuple_SET_ITEM(key, 1, Py_NewRef(ts->serial));
        PyObject *hit = PyDict_GetItemWithError(here, key);
        Py_DECREF(key);
        if (hit == NULL) {
            if (PyErr_Occurred())
                goto error;
            goto done;
        }
        if (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 2)
            goto done;
        by = Py_NewRef(PyTuple_GET_ITEM(hit, 0));
        via = Py_NewRef(PyTuple_GET_ITEM(hit, 1));
    }
    int plain = str_in(via, s_next, s_for, NULL);
    if (!plain) {
        if (rec->view == Py_None)
            goto done;  /* the first resumption by a value: the machine makes the frame's view */
        if (rec->vready == 0 && load_view(rec) < 0)
            goto error;
    }

    /* from here on the state changes, in the machine's order */
    result = 0;
    Py_SETREF(ts->last_yield, Py_NewRef(Py_None));
    if (resolve(c, ts) < 0)
        goto error;
    if (poll && poll_fast_closed(c) < 0)
        goto error;
    if (delegating) {
        Py_SETREF(r->delegate, Py_NewRef((PyObject *)rec));
        Py_SETREF(rec->delegator, Py_NewRef((PyObject *)r));
    }
    if (plain) {
        value = Py_NewRef(Py_None);
        raw = Py_NewRef(Py_True);
    }
    else {
        PyObject *v = stack_top(rec);
        if (v == NULL) {
            value = Py_NewRef(Py_None);
            raw = Py_NewRef(Py_False);
        }
        else {
            Py_INCREF(v);
            int vr = val(c, v, &value, &raw);
            Py_DECREF(v);
            if (vr < 0)
                goto error;
        }
    }
    rec->state = RUNNING;
    rec->exc_lasti = -1;
    int lineno = PyFrame_GetLineNumber(frame);
    fid = PyLong_FromVoidPtr(frame);
    lasti_o = PyLong_FromLong(PyFrame_GetLasti(frame));
    line = PyLong_FromLong(lineno);
    chain = PyList_New(0);
    t_o = PyLong_FromLongLong(now_ns() - c->t0);
    if (fid == NULL || lasti_o == NULL || line == NULL || chain == NULL || t_o == NULL)
        goto error;
    p = PyTuple_New(11);
    if (p == NULL)
        goto error;
    PyTuple_SET_ITEM(p, 0, Py_NewRef((PyObject *)rec));
    PyTuple_SET_ITEM(p, 1, fid);
    PyTuple_SET_ITEM(p, 2, lasti_o);
    PyTuple_SET_ITEM(p, 3, Py_NewRef(Py_False));
    PyTuple_SET_ITEM(p, 4, by);
    PyTuple_SET_ITEM(p, 5, via);
    PyTuple_SET_ITEM(p, 6, value);
    PyTuple_SET_ITEM(p, 7, raw);
    PyTuple_SET_ITEM(p, 8, line);
    PyTuple_SET_ITEM(p, 9, chain);
    PyTuple_SET_ITEM(p, 10, t_o);
    fid = lasti_o = by = via = value = raw = line = chain = t_o = NULL;
    Py_SETREF(ts->pending, p);
    c->fast_events++;
    goto done;
error:
    result = -1;
done:
    Py_XDECREF(rec); Py_XDECREF(r); Py_XDECREF(fb); Py_XDECREF(fcode);
    Py_XDECREF(by); Py_XDECREF(via); Py_XDECREF(value); Py_XDECREF(raw); Py_XDECREF(fid);
    Py_XDECREF(line); Py_XDECREF(chain); Py_XDECREF(lasti_o); Py_XDECREF(t_o);
    return result;
}

/* An exit (return / PY_YIELD / PY_RETURN) with the value ``arg``. */
static int
fast_exit(CoreObject *c, TSObject *ts, PyFrameObject *frame, PyObject *arg)
{
    int err = 0, result = FALLBACK;
    PyObject *gen = NULL, *value = NULL, *raw = NULL, *line = NULL, *ly = NULL, *passed = NULL;
    PyCodeObject *code = NULL;
    PyObject *on = Py_None;
    int on_held = 0;

    if (!pending_ok(c, ts))
        return FALLBACK;
    ObjObject *rec = (ObjObject *)get_by_addr(c->records, frame, &err);
    if (err)
        return -1;
    if (rec == NULL) {
        if (c->count + 1 > c->limit)
            return FALLBACK;
        return resolve(c, ts);
    }
    if (Py_TYPE(rec) != &ObjType || rec->state != RUNNING || is_true(rec->dying))
        return FALLBACK;  /* (dying: a yield during finalization, see the machine) */
    Py_INCREF(rec);
    int is_gen = rec->kind == s_generator || PyUnicode_Compare(rec->kind, s_generator) == 0;
    int is_coro = !is_gen && (rec->kind == s_coroutine || PyUnicode_Compare(rec->kind, s_coroutine) == 0);
    if ((!is_gen && !is_coro) || c->count + 2 > c->limit)
        goto done;  /* async generators: values come wrapped */
    code = PyFrame_GetCode(frame);
    int lasti = PyFrame_GetLasti(frame);
    gen = deref(rec->ref);
    int suspended;
    if (gen != NULL) {
        PyObject *s = PyObject_GetAttr(gen, is_gen ? s_gi_suspended : s_cr_suspended);
        if (s == NULL)
            goto error;
        suspended = is_true(s);
        Py_DECREF(s);
    }
    else {
        long flags = site_flags(c, (PyObject *)code, lasti);
        if (flags < 0)
            goto error;
        suspended = (flags & SITE_YIELD) && rec->exc_lasti != lasti;
    }
    if (!suspended)
        goto done;  /* the end of the frame: the machine finishes it */
    /* who the resumer will be once the pending entry is resolved */
    PyObject *resumer = rec->resumer;
    if (ts->pending != Py_None && PyTuple_GET_ITEM(ts->pending, 0) == (PyObject *)rec)
        resumer = PyTuple_GET_ITEM(ts->pending, 4);
    PyObject *last = ts->last_yield;
    if (last != Py_None && PyTuple_Check(last) && PyTuple_GET_SIZE(last) == 2 &&
            PyTuple_GET_ITEM(last, 0) == rec->delegate && rec->delegate != Py_None &&
            PyLong_AsVoidPtr(PyTuple_GET_ITEM(last, 1)) == (void *)arg) {
        on = ((ObjObject *)rec->delegate)->on;
    }
    else if (gen != NULL) {
        if (!is_gen)
            goto done;  /* what the coroutine waits on: asyncio introspection */
        int in_loops = PySet_Contains(c->loops, resumer);
        if (in_loops < 0)
            goto error;
        if (in_loops)
            goto done;
    }
    if (resumer != Py_None) {
        ObjObject *r2 = (ObjObject *)PyDict_GetItemWithError(c->by_id, resumer);
        if (r2 == NULL && PyErr_Occurred())
            goto error;
        if (r2 != NULL && (Py_TYPE(r2) != &ObjType || (is_true(r2->synthetic) && r2->state == RUNNING)))
            goto done;  /* a throw() passed down: the outer generators yield too */
    }
    long flags = site_flags(c, (PyObject *)code, lasti);
    if (flags < 0)
        goto error;

    result = 0;
    Py_INCREF(on);
    on_held = 1;
    if (resolve(c, ts) < 0)
        goto error;
    passed = PyLong_FromVoidPtr(arg);
    if (passed == NULL || val_yielding(c, arg, gen, &value, &raw) < 0)
        goto error;
    Py_SETREF(rec->on, Py_NewRef(on));
    ly = PyTuple_Pack(2, (PyObject *)rec, passed);
    if (ly == NULL)
        goto error;
    Py_SETREF(ts->last_yield, ly);
    ly = NULL;
    line = PyLong_FromLong(PyFrame_GetLineNumber(frame));
    if (line == NULL)
        goto error;
    if (emit(c, ts, s_yield, rec->id, rec->resumer, Py_None, value, raw, line, now_ns() - c->t0, on) < 0)
        goto error;
    rec->state = SUSPENDED;
    Py_SETREF(rec->yield_line, Py_NewRef(line));
    if (!(flags & SITE_DELEGATING))
        Py_SETREF(rec->delegate, Py_NewRef(Py_None));
    int fast_close = c->may_skip && (flags & SITE_CLOSES_WITHOUT_REENTRY);
    Py_SETREF(rec->fast_close, Py_NewRef(fast_close ? Py_True : Py_False));
    if (fast_close ? PySet_Add(c->closable, (PyObject *)rec) : PySet_Discard(c->closable, (PyObject *)rec)) {
        if (PyErr_Occurred())
            goto error;
    }
    c->fast_events++;
    goto done_on;
error:
    result = -1;
done_on:
    if (on_held)
        Py_DECREF(on);
done:
    Py_XDECREF(rec); Py_XDECREF(gen); Py_XDECREF(code); Py_XDECREF(value); Py_XDECREF(raw);
    Py_XDECREF(line); Py_XDECREF(ly); Py_XDECREF(passed);
    return result;
}

/* the exception being raised, handed to the machine's ``failed`` (as its
 * handler does: ReprTimeout, RecursionError, Ctrl-C, or an internal error) */
static void
report_failure(CoreObject *c)
{
    PyObject *exc = PyErr_GetRaisedException_compat();
    PyObject *res = exc ? PyObject_CallOneArg(c->failed, exc) : NULL;
    Py_XDECREF(exc);
    Py_XDECREF(res);
    PyErr_Clear();
}

#define ENTRY 0
#define EXIT 1
#define OTHER 2   /* settrace's exception (and any other) event: always the machine's */

/* One event of a recorded frame: the fast path, else the machine's handler;
 * then a SIGINT deferred while our code ran.  -1: deliver() raised (the
 * program's KeyboardInterrupt, to propagate as the Python sources do). */
static int
dispatch(CoreObject *c, TSObject *ts, PyFrameObject *frame, int what, PyObject *event, PyObject *arg,
         PyObject *kind)
{
    int r = FALLBACK;
    if (what != OTHER && c->busy == Py_None && Py_TYPE(ts) == &TSType) {
        PyObject *ok = PyObject_CallNoArgs(c->lock_acquire);
        if (ok == NULL) {
            r = -1;
        }
        else {
            Py_DECREF(ok);
            Py_SETREF(c->busy, Py_NewRef(ts->ident));
            r = what == EXIT ? fast_exit(c, ts, frame, arg) : fast_entry(c, ts, frame);
            if (r == 0 && c->want_flush) {
                c->want_flush = 0;
                PyObject *res = PyObject_CallMethodNoArgs(c->writer, s_flush);
                if (res == NULL)
                    r = -1;
                Py_XDECREF(res);
            }
            Py_SETREF(c->busy, Py_NewRef(Py_None));
            PyObject *exc = r < 0 ? PyErr_GetRaisedException_compat() : NULL;
            PyObject *res = PyObject_CallNoArgs(c->lock_release);
            Py_XDECREF(res);
            if (res == NULL)
                PyErr_Clear();
            if (exc != NULL)
                PyErr_SetRaisedException_compat(exc);
        }
    }
    if (r == FALLBACK) {
        c->slow_events++;
        PyObject *args[5] = {(PyObject *)ts, (PyObject *)frame, event, arg ? arg : Py_None, kind};
        PyObject *res = PyObject_Vectorcall(c->handle, args, 5, NULL);
        r = res == NULL ? -1 : 0;
        Py_XDECREF(res);
    }
    if (r < 0)
        report_failure(c);
    PyObject *deferred = PyObject_GetAttr(c->guard, s_deferred);
    if (deferred == NULL) {
        PyErr_Clear();
        return 0;
    }
    int fire = is_true(deferred);
    Py_DECREF(deferred);
    if (fire) {
        PyObject *res = PyObject_CallMethodNoArgs(c->guard, s_deliver);
        if (res == NULL)
            return -1;
        Py_DECREF(res);
    }
    return 0;
}

/* ------------------------------------------------- the sources' entry points */

static PyObject *
decision(CoreObject *c, PyObject *code)
{
    int err = 0;
    PyObject *kind = get_by_addr(c->decisions, code, &err);
    if (err)
        return NULL;
    if (kind != NULL)
        return Py_NewRef(kind);
    return PyObject_CallOneArg(c->decide, code);
}

/* this thread's ThreadState for the monitoring source (borrowed), or NULL */
static PyObject *
thread_ts(CoreObject *c)
{
    PyObject *d = PyThreadState_GetDict();
    if (d == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no thread state dict");
        return NULL;
    }
    PyObject *ts = PyDict_GetItemWithError(d, c->tskey);
    if (ts != NULL || PyErr_Occurred())
        return ts;
    PyObject *kw = PyDict_New();
    if (kw == NULL || PyDict_SetItemString(kw, "new", Py_True) < 0) {
        Py_XDECREF(kw);
        return NULL;
    }
    PyObject *empty = PyTuple_New(0);
    ts = empty ? PyObject_Call(c->thread_state, empty, kw) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(kw);
    if (ts == NULL)
        return NULL;
    int r = PyDict_SetItem(d, c->tskey, ts);
    Py_DECREF(ts);  /* the thread's dict holds it */
    return r < 0 ? NULL : ts;
}

static PyObject *
core_set_thread(CoreObject *c, PyObject *ts)
{
    PyObject *d = PyThreadState_GetDict();
    if (d == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no thread state dict");
        return NULL;
    }
    if (ts == Py_None) {
        if (PyDict_DelItem(d, c->tskey) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError))
                return NULL;
            PyErr_Clear();
        }
        Py_RETURN_NONE;
    }
    if (PyDict_SetItem(d, c->tskey, ts) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Recursion headroom.  A hook runs on top of the program's stack: at the
 * program's recursion limit, the Python code it calls (the machine, a repr)
 * would raise RecursionError in our code, and what escaped reached the
 * program at a depth where, untraced, it would not have been raised (with
 * our frames in its traceback).  While one of our entry points runs, the
 * thread gets HEADROOM levels more, given back when it returns; the limit
 * the program sees (sys.getrecursionlimit) does not change. */
#define HEADROOM 200

static inline void
recursion_credit(PyThreadState *t, int n)
{
#if PY_VERSION_HEX >= 0x030C0000
    t->py_recursion_remaining += n;
#else
    t->recursion_remaining += n;
#endif
}

/* recursion_credit(n): the main thread's depth credit for cotrace's own
 * frames below the program's first one (tracer.runner), n < 0 to take it back */
static PyObject *
py_recursion_credit(PyObject *self, PyObject *arg)
{
    int n = (int)PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    recursion_credit(PyThreadState_Get(), n);
    Py_RETURN_NONE;
}

/* dispatch() for the current thread's state and frame (a sys.monitoring
 * callback's); a missing one is an internal error, reported, not raised */
static int
dispatch_here(CoreObject *c, int what, PyObject *event, PyObject *arg, PyObject *kind)
{
    PyObject *ts = thread_ts(c);
    PyFrameObject *frame = ts ? PyEval_GetFrame() : NULL;
    if (ts == NULL || frame == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "no current frame");
        report_failure(c);
        return 0;
    }
    Py_INCREF(ts);
    Py_INCREF(frame);
    int r = dispatch(c, (TSObject *)ts, frame, what, event, arg, kind);
    Py_DECREF(frame);
    Py_DECREF(ts);
    return r;
}

static PyObject *monitor_body(CoreObject *c, PyObject *const *args, Py_ssize_t nargs, int exit);

/* sys.monitoring PY_START / PY_RESUME (code, offset) and PY_YIELD / PY_RETURN (code, offset, value) */
static PyObject *
monitor(CoreObject *c, PyObject *const *args, Py_ssize_t nargs, int exit)
{
    PyThreadState *t = PyThreadState_Get();
    recursion_credit(t, HEADROOM);
    PyObject *res = monitor_body(c, args, nargs, exit);
    recursion_credit(t, -HEADROOM);
    return res;
}

/* sys.monitoring PY_THROW / PY_UNWIND (code, offset, exception): always the machine's */
static PyObject *
monitor_other(CoreObject *c, PyObject *const *args, Py_ssize_t nargs, PyObject *event)
{
    if (nargs < 3) {
        PyErr_SetString(PyExc_TypeError, "monitoring callback: wrong number of arguments");
        return NULL;
    }
    PyThreadState *t = PyThreadState_Get();
    recursion_credit(t, HEADROOM);
    PyObject *res = NULL;
    PyObject *kind = decision(c, args[0]);
    if (kind != NULL) {
        int r = kind != Py_None && c->active ? dispatch_here(c, OTHER, event, args[2], kind) : 0;
        Py_DECREF(kind);
        res = r < 0 ? NULL : Py_NewRef(Py_None);
    }
    recursion_credit(t, -HEADROOM);
    return res;
}

static PyObject *
monitor_body(CoreObject *c, PyObject *const *args, Py_ssize_t nargs, int exit)
{
    if (nargs < 2 || (exit && nargs < 3)) {
        PyErr_SetString(PyExc_TypeError, "monitoring callback: wrong number of arguments");
        return NULL;
    }
    PyObject *code = args[0];
    PyObject *kind = decision(c, code);
    if (kind == NULL)
        return NULL;
    if (kind == Py_None) {
        Py_DECREF(kind);
        return Py_NewRef(c->disable);
    }
    int r = c->active ? dispatch_here(c, exit ? EXIT : ENTRY, exit ? s_return : s_call,
                                      exit ? args[2] : Py_None, kind) : 0;
    Py_DECREF(kind);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
core_entered(CoreObject *c, PyObject *const *args, Py_ssize_t nargs)
{
    return monitor(c, args, nargs, 0);
}

static PyObject *
core_left(CoreObject *c, PyObject *const *args, Py_ssize_t nargs)
{
    return monitor(c, args, nargs, 1);
}

static PyObject *
core_thrown(CoreObject *c, PyObject *const *args, Py_ssize_t nargs)
{
    return monitor_other(c, args, nargs, s_throw);
}

static PyObject *
core_unwound(CoreObject *c, PyObject *const *args, Py_ssize_t nargs)
{
    return monitor_other(c, args, nargs, s_unwind);
}

/* ---- the settrace source's trace function */

typedef struct {
    PyObject_HEAD
    CoreObject *core;
    PyObject *ts;
} TracerObject;

static PyTypeObject TracerType;

static PyObject *tracer_body(TracerObject *self, PyObject *args);

static PyObject *
tracer_call(TracerObject *self, PyObject *args, PyObject *kw)
{
    PyThreadState *t = PyThreadState_Get();
    recursion_credit(t, HEADROOM);
    PyObject *res = tracer_body(self, args);
    recursion_credit(t, -HEADROOM);
    return res;
}

static PyObject *
tracer_body(TracerObject *self, PyObject *args)
{
    PyObject *frame, *event, *arg;
    if (!PyArg_UnpackTuple(args, "trace", 3, 3, &frame, &event, &arg))
        return NULL;
    if (!PyFrame_Check(frame))
        Py_RETURN_NONE;
    CoreObject *c = self->core;
    PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
    int flags = code->co_flags;
    if (!(flags & ANY_GENERATOR)) {
        /* ordinary code, the bulk of all calls: never recorded */
        Py_DECREF(code);
        Py_RETURN_NONE;
    }
    PyObject *kind = decision(c, (PyObject *)code);
    Py_DECREF(code);
    if (kind == NULL)
        return NULL;
    if (kind == Py_None || !c->active) {
        Py_DECREF(kind);
        Py_RETURN_NONE;
    }
    int what = OTHER;  /* exception (or line, opcode): the machine's */
    if (event == s_call || PyUnicode_Compare(event, s_call) == 0) {
        what = ENTRY;
        /* no line events in recorded frames: only where the frame's local
         * function will be ours (a program's tracer that chains to us, as
         * sys.gettrace() then is, decides for its own frames) */
        if (PyThreadState_Get()->c_traceobj == (PyObject *)self &&
                PyObject_SetAttr(frame, s_f_trace_lines, Py_False) < 0) {
            Py_DECREF(kind);
            return NULL;
        }
    }
    else if (event == s_return || PyUnicode_Compare(event, s_return) == 0)
        what = EXIT;
    int r = dispatch(c, (TSObject *)self->ts, (PyFrameObject *)frame, what, event, arg, kind);
    Py_DECREF(kind);
    if (r < 0)
        return NULL;
    return Py_NewRef((PyObject *)self);
}

static int
tracer_traverse(TracerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->core);
    Py_VISIT(self->ts);
    return 0;
}

static int
tracer_clear(TracerObject *self)
{
    Py_CLEAR(self->core);
    Py_CLEAR(self->ts);
    return 0;
}

static PyTypeObject TracerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracer.record._ccore.Tracer",
    .tp_doc = "The settrace source's trace function for one thread (made by Core.tracer(ts)).",
    .tp_basicsize = sizeof(TracerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_call = (ternaryfunc)tracer_call,
    .tp_dealloc = gc_dealloc,
    .tp_traverse = (traverseproc)tracer_traverse,
    .tp_clear = (inquiry)tracer_clear,
};

static PyObject *
core_tracer(CoreObject *c, PyObject *ts)
{
    TracerObject *t = PyObject_GC_New(TracerObject, &TracerType);
    if (t == NULL)
        return NULL;
    t->core = (CoreObject *)Py_NewRef((PyObject *)c);
    t->ts = Py_NewRef(ts);
    PyObject_GC_Track(t);
    return (PyObject *)t;
}

/* the sink's seq numbers: next(core) */
static PyObject *
core_iternext(CoreObject *c)
{
    return PyLong_FromLongLong(++c->seq);
}

static PyObject *
core_stats(CoreObject *c, PyObject *unused)
{
    return Py_BuildValue("(LL)", c->fast_events, c->slow_events);
}

static PyMethodDef core_methods[] = {
    {"bind", (PyCFunction)(void (*)(void))core_bind, METH_VARARGS | METH_KEYWORDS,
     "Bind the machine's tables and collaborators (once, before recording)."},
    {"entered", (PyCFunction)(void (*)(void))core_entered, METH_FASTCALL,
     "sys.monitoring PY_START / PY_RESUME callback."},
    {"thrown", (PyCFunction)(void (*)(void))core_thrown, METH_FASTCALL,
     "sys.monitoring PY_THROW callback (code, offset, exception)."},
    {"unwound", (PyCFunction)(void (*)(void))core_unwound, METH_FASTCALL,
     "sys.monitoring PY_UNWIND callback (code, offset, exception)."},
    {"left", (PyCFunction)(void (*)(void))core_left, METH_FASTCALL,
     "sys.monitoring PY_YIELD / PY_RETURN callback."},
    {"tracer", (PyCFunction)core_tracer, METH_O, "A settrace function for the thread state ``ts``."},
    {"set_thread", (PyCFunction)core_set_thread, METH_O,
     "Make ``ts`` the monitoring source's state of the calling thread (None: forget it)."},
    {"stats", (PyCFunction)core_stats, METH_NOARGS, "(events done in C, events handed to the machine)."},
    {NULL}
};

static PyMemberDef core_members[] = {
    {"active", T_INT, offsetof(CoreObject, active), 0, "recording (the machine's ``active``)"},
    {"busy", T_OBJECT, offsetof(CoreObject, busy), 0, "ident of the thread inside a handler, or None"},
    {"count", T_PYSSIZET, offsetof(CoreObject, count), 0, "events emitted (the sink's ``count``)"},
    {"limit", T_PYSSIZET, offsetof(CoreObject, limit), 0, "--max-events (the sink's ``limit``)"},
    {"t0", T_LONGLONG, offsetof(CoreObject, t0), 0, "perf_counter_ns() at the start"},
    {"seq", T_LONGLONG, offsetof(CoreObject, seq), 0, "the last seq given out"},
    {"poll_tick", T_LONGLONG, offsetof(CoreObject, poll_tick), 0, "the machine's ``_poll_tick``"},
    {NULL}
};

static PyObject *
core_iter(PyObject *c)
{
    return Py_NewRef(c);
}

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracer.record._ccore.Core",
    .tp_doc = "The C core of one recording (see tracer.record.core).",
    .tp_basicsize = sizeof(CoreObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = core_new,
    .tp_dealloc = gc_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_methods = core_methods,
    .tp_members = core_members,
    .tp_iter = core_iter,
    .tp_iternext = (iternextfunc)core_iternext,
};

/* ------------------------------------------------------ the trace writer */

/* A growing byte buffer. */
typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int
buf_reserve(Buf *b, Py_ssize_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + more)
        cap *= 2;
    char *d = PyMem_Realloc(b->data, cap);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

static inline int
buf_add(Buf *b, const char *s, Py_ssize_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

/* the decimal digits of ``v`` (snprintf's locale and format parsing showed in profiles) */
static inline int
buf_ll(Buf *b, long long v)
{
    char tmp[24];
    char *end = tmp + sizeof tmp, *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return buf_add(b, p, end - p);
}

/* an ASCII str (what the writer's JSON pieces are) */
static int
buf_str(Buf *b, PyObject *s)
{
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (p == NULL)
        return -1;
    return buf_add(b, p, n);
}

/* one more gap in a histogram of aggregates.Switches: the same buckets as
 * aggregates._bucket */
static int
count_gap(PyObject *hist, long long gap)
{
    long long bucket;
    if (gap < 8)
        bucket = gap > 0 ? gap : 0;
    else {
        int n = 0;   /* gap's bit length (as int.bit_length(); no compiler builtin: MSVC has none) */
        for (unsigned long long v = (unsigned long long)gap; v; v >>= 1)
            n++;
        bucket = ((long long)n << 2) | ((gap >> (n - 3)) & 3);
    }
    PyObject *key = PyLong_FromLongLong(bucket);
    if (key == NULL)
        return -1;
    PyObject *cur = PyDict_GetItemWithError(hist, key);
    long long count = 0;
    if (cur != NULL)
        count = PyLong_AsLongLong(cur);
    else if (PyErr_Occurred()) {
        Py_DECREF(key);
        return -1;
    }
    PyObject *value = PyLong_FromLongLong(count + 1);
    int r = value == NULL ? -1 : PyDict_SetItem(hist, key, value);
    Py_XDECREF(value);
    Py_DECREF(key);
    return r;
}

/* format_batch(buf, tails, tail_for, object_line, encode, js, small_int, switches) -> (bytes, facts)
 *
 * TraceWriter.flush's loop: every event record becomes its JSON line (seq,
 * t and value, then the location's cached tail), and one (seq, slot, obj,
 * value) fact for the aggregator; object records are the writer's own
 * (object_line(rec) -> str).  The same bytes as the Python loop.  The gaps
 * between events go into ``switches`` (aggregates.Switches: its ``same``
 * and ``changed`` histograms, ``last_t``, ``last_thread``), as its batch(). */
static PyObject *
format_batch(PyObject *self, PyObject *args)
{
    PyObject *recs, *tails, *tail_for, *object_line, *encode, *js, *switches;
    long long small;
    if (!PyArg_ParseTuple(args, "O!O!OOOOLO", &PyList_Type, &recs, &PyDict_Type, &tails, &tail_for, &object_line,
                          &encode, &js, &small, &switches))
        return NULL;
    PyObject *same = PyObject_GetAttrString(switches, "same");
    PyObject *changed = same ? PyObject_GetAttrString(switches, "changed") : NULL;
    PyObject *last = changed ? PyObject_GetAttrString(switches, "last_t") : NULL;
    PyObject *last_thread = last ? PyObject_GetAttrString(switches, "last_thread") : NULL;
    if (last_thread == NULL || !PyDict_Check(same) || !PyDict_Check(changed)) {
        if (last_thread != NULL)
            PyErr_SetString(PyExc_TypeError, "switches must have dicts same and changed");
        Py_XDECREF(same);
        Py_XDECREF(changed);
        Py_XDECREF(last);
        Py_XDECREF(last_thread);
        return NULL;
    }
    int have_last = last != Py_None;
    long long last_t = have_last ? PyLong_AsLongLong(last) : 0;
    Py_DECREF(last);
    Buf b = {NULL, 0, 0};
    PyObject *facts = PyList_New(0);
    if (facts == NULL || (have_last && PyErr_Occurred())) {
        Py_XDECREF(facts);
        Py_DECREF(same);
        Py_DECREF(changed);
        Py_DECREF(last_thread);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(recs);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *rec = PyList_GET_ITEM(recs, i);
        if (!PyTuple_Check(rec) || PyTuple_GET_SIZE(rec) < 1) {
            PyErr_SetString(PyExc_TypeError, "a trace record must be a tuple");
            goto fail;
        }
        if (i && buf_add(&b, "\n", 1) < 0)
            goto fail;
        if (PyTuple_GET_ITEM(rec, 0) != s_e) {
            PyObject *line = PyObject_CallOneArg(object_line, rec);
            if (line == NULL)
                goto fail;
            int r = buf_str(&b, line);
            Py_DECREF(line);
            if (r < 0)
                goto fail;
            continue;
        }
        if (PyTuple_GET_SIZE(rec) != 14) {
            PyErr_SetString(PyExc_TypeError, "an event record must have 14 fields");
            goto fail;
        }
#define F(k) PyTuple_GET_ITEM(rec, k)
        /* _, seq, t, ev, obj, by, via, value, raw, line, thread, task, synthetic, on */
        PyObject *key = PyTuple_Pack(9, F(3), F(4), F(5), F(6), F(9), F(10), F(11), F(12), F(13));
        if (key == NULL)
            goto fail;
        PyObject *cached = PyDict_GetItemWithError(tails, key);
        if (cached == NULL) {
            if (PyErr_Occurred()) {
                Py_DECREF(key);
                goto fail;
            }
            cached = PyObject_CallFunctionObjArgs(tail_for, key, F(1), NULL);  /* (and stores it in tails) */
            Py_DECREF(key);
            if (cached == NULL)
                goto fail;
        }
        else {
            Py_DECREF(key);
            Py_INCREF(cached);
        }
        if (!PyTuple_Check(cached) || PyTuple_GET_SIZE(cached) != 2) {
            Py_DECREF(cached);
            PyErr_SetString(PyExc_TypeError, "a cached tail must be (json, slot)");
            goto fail;
        }
        PyObject *tail = PyTuple_GET_ITEM(cached, 0), *slot = PyTuple_GET_ITEM(cached, 1);
        PyObject *value = F(7);
        PyObject *text = NULL;
        if (F(8) == Py_True) {
            /* stored as it is: repr'd here, off the hot path */
            int direct = value == Py_None || PyBool_Check(value);
            if (!direct && PyLong_CheckExact(value)) {
                int overflow = 0;
                long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
                direct = !overflow && -small < v && v < small;
            }
            text = direct ? PyObject_Repr(value) : PyObject_CallOneArg(encode, value);
        }
        else if (value != Py_None)
            text = Py_NewRef(value);
        if (buf_add(&b, "{\"seq\":", 7) < 0 || buf_ll(&b, PyLong_AsLongLong(F(1))) < 0 ||
                buf_add(&b, ",\"t\":", 5) < 0 || buf_ll(&b, PyLong_AsLongLong(F(2))) < 0) {
            Py_XDECREF(text);
            Py_DECREF(cached);
            goto fail;
        }
        if (PyErr_Occurred() || (F(8) == Py_True && text == NULL)) {
            Py_XDECREF(text);
            Py_DECREF(cached);
            goto fail;
        }
        if (text != NULL) {
            PyObject *j = PyObject_CallOneArg(js, text);
            if (j == NULL || buf_add(&b, ",\"value\":", 9) < 0 || buf_str(&b, j) < 0) {
                Py_XDECREF(j);
                Py_DECREF(text);
                Py_DECREF(cached);
                goto fail;
            }
            Py_DECREF(j);
        }
        if (buf_str(&b, tail) < 0) {
            Py_XDECREF(text);
            Py_DECREF(cached);
            goto fail;
        }
        PyObject *fact = PyTuple_Pack(4, F(1), slot, F(4), text ? text : Py_None);
        Py_XDECREF(text);
        Py_DECREF(cached);
        if (fact == NULL || PyList_Append(facts, fact) < 0) {
            Py_XDECREF(fact);
            goto fail;
        }
        Py_DECREF(fact);
        {
            long long t = PyLong_AsLongLong(F(2));
            PyObject *thread = F(10);
            if (t == -1 && PyErr_Occurred())
                goto fail;
            if (have_last) {
                int eq = thread == last_thread ? 1 : PyObject_RichCompareBool(thread, last_thread, Py_EQ);
                if (eq < 0 || count_gap(eq ? same : changed, t - last_t) < 0)
                    goto fail;
            }
            last_t = t;
            have_last = 1;
            Py_SETREF(last_thread, Py_NewRef(thread));
        }
#undef F
    }
    {
        PyObject *lt = have_last ? PyLong_FromLongLong(last_t) : Py_NewRef(Py_None);
        if (lt == NULL || PyObject_SetAttrString(switches, "last_t", lt) < 0
                || PyObject_SetAttrString(switches, "last_thread", last_thread) < 0) {
            Py_XDECREF(lt);
            goto fail;
        }
        Py_DECREF(lt);
    }
    Py_CLEAR(same);
    Py_CLEAR(changed);
    Py_CLEAR(last_thread);
    if (n && buf_add(&b, "\n", 1) < 0)
        goto fail;
    PyObject *data = PyBytes_FromStringAndSize(b.data ? b.data : "", b.len);
    PyMem_Free(b.data);
    if (data == NULL) {
        Py_DECREF(facts);
        return NULL;
    }
    PyObject *out = PyTuple_Pack(2, data, facts);
    Py_DECREF(data);
    Py_DECREF(facts);
    return out;
fail:
    PyMem_Free(b.data);
    Py_DECREF(facts);
    Py_XDECREF(same);
    Py_XDECREF(changed);
    Py_XDECREF(last_thread);
    return NULL;
}

/* ------------------------------------------------------ the aggregator */

static int
list_incr(PyObject *list, Py_ssize_t i)
{
    PyObject *v = PyList_GET_ITEM(list, i);
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    PyObject *nv = PyLong_FromLongLong(x + 1);
    if (nv == NULL)
        return -1;
    PyList_SET_ITEM(list, i, nv);
    Py_DECREF(v);
    return 0;
}

/* aggregates._note: keep [seq, value] if there is room and it is new */
static int
note(PyObject *examples, Py_ssize_t keep, PyObject *seq, PyObject *value)
{
    if (value == Py_None || PyList_GET_SIZE(examples) >= keep)
        return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(examples); i++) {
        PyObject *pair = PyList_GET_ITEM(examples, i);
        int eq = PyObject_RichCompareBool(PyList_GET_ITEM(pair, 1), value, Py_EQ);
        if (eq < 0)
            return -1;
        if (eq)
            return 0;
    }
    PyObject *pair = PyList_New(2);
    if (pair == NULL)
        return -1;
    PyList_SET_ITEM(pair, 0, Py_NewRef(seq));
    PyList_SET_ITEM(pair, 1, Py_NewRef(value));
    int r = PyList_Append(examples, pair);
    Py_DECREF(pair);
    return r;
}

static inline int
is_list(PyObject *o, Py_ssize_t min)
{
    return PyList_Check(o) && PyList_GET_SIZE(o) >= min;
}

/* flow counter of ``holder[i]``, made from its key tuple the first time (borrowed) */
static PyObject *
flow_of(PyObject *agg, PyObject *holder, Py_ssize_t i, int holder_is_list, PyObject *seq)
{
    PyObject *f = holder_is_list ? PyList_GET_ITEM(holder, i) : holder;
    if (!PyTuple_Check(f))
        return f;
    PyObject *made = PyObject_CallMethod(agg, "_flow_slot", "OO", f, seq);
    if (made == NULL)
        return NULL;
    return made;  /* new reference: the caller stores it */
}

/* aggregate(aggregator, facts, keep): Aggregator.events, the same effects */
static PyObject *
aggregate(PyObject *self, PyObject *args)
{
    PyObject *agg, *facts;
    Py_ssize_t keep;
    if (!PyArg_ParseTuple(args, "OO!n", &agg, &PyList_Type, &facts, &keep))
        return NULL;
    PyObject *pending = PyObject_GetAttrString(agg, "pending");
    PyObject *state = PyObject_GetAttrString(agg, "state");
    PyObject *fn_of = PyObject_GetAttrString(agg, "fn_of");
    if (pending == NULL || state == NULL || fn_of == NULL || !PyDict_Check(pending) || !PyDict_Check(state) ||
            !PyDict_Check(fn_of)) {
        Py_XDECREF(pending); Py_XDECREF(state); Py_XDECREF(fn_of);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "not an Aggregator");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(facts);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *fact = PyList_GET_ITEM(facts, i);
        PyObject *seq = PyTuple_GET_ITEM(fact, 0), *slot = PyTuple_GET_ITEM(fact, 1);
        PyObject *obj = PyTuple_GET_ITEM(fact, 2), *value = PyTuple_GET_ITEM(fact, 3);
        if (!is_list(slot, 7))
            goto bad;
        if (PyList_GET_ITEM(slot, 0) == Py_True) {  /* an entry */
            int vflag = value == Py_None ? 0 : PyUnicode_CompareWithASCIIString(value, "None") == 0 ? 1 : 2;
            PyObject *flows = PyList_GET_ITEM(slot, 2);
            if (!is_list(flows, 3))
                goto bad;
            PyObject *f = PyList_GET_ITEM(flows, vflag);
            if (PyTuple_Check(f)) {
                f = flow_of(agg, flows, vflag, 1, seq);
                if (f == NULL)
                    goto fail;
                PyList_SetItem(flows, vflag, f);  /* steals */
            }
            if (!is_list(f, 3) || list_incr(f, 0) < 0)
                goto badf;
            if (vflag && note(PyList_GET_ITEM(f, 2), keep, seq, value) < 0)
                goto fail;
            PyObject *fn = PyList_GET_ITEM(slot, 1);
            if (fn != Py_None) {
                PyObject *vf = PyLong_FromLong(vflag);
                PyObject *entry = vf ? PyTuple_Pack(4, slot, vf, seq, value) : NULL;
                Py_XDECREF(vf);
                if (entry == NULL || PyDict_SetItem(pending, obj, entry) < 0) {
                    Py_XDECREF(entry);
                    goto fail;
                }
                Py_DECREF(entry);
                int has = PyDict_Contains(state, obj);
                if (has < 0)
                    goto fail;
                if (!has) {
                    int start = PyUnicode_CompareWithASCIIString(PyList_GET_ITEM(slot, 3), "start") == 0;
                    PyObject *r = PyObject_CallMethod(agg, "_first_event", "OOOO", fn, obj, seq,
                                                      start ? Py_True : Py_False);
                    if (r == NULL)
                        goto fail;
                    Py_DECREF(r);
                }
            }
            continue;
        }
        if (!is_list(slot, 9))
            goto bad;
        PyObject *f = PyList_GET_ITEM(slot, 2);
        if (PyTuple_Check(f)) {
            f = flow_of(agg, slot, 2, 1, seq);
            if (f == NULL)
                goto fail;
            PyList_SetItem(slot, 2, f);
        }
        if (!is_list(f, 3) || list_incr(f, 0) < 0)
            goto badf;
        if (is_true(PyList_GET_ITEM(slot, 4)))
            value = PyList_GET_ITEM(slot, 8);  /* suspended in an await: what it waits on */
        if (value != Py_None && note(PyList_GET_ITEM(f, 2), keep, seq, value) < 0)
            goto fail;
        PyObject *fn = PyList_GET_ITEM(slot, 1);
        if (fn == Py_None)
            continue;
        int is_yield = PyList_GET_ITEM(slot, 5) == Py_True;
        PyObject *entry = PyDict_GetItemWithError(pending, obj);
        if (entry == NULL && PyErr_Occurred())
            goto fail;
        if (entry != NULL) {
            Py_INCREF(entry);
            if (PyDict_DelItem(pending, obj) < 0) {
                Py_DECREF(entry);
                goto fail;
            }
            PyObject *eslot = PyTuple_GET_ITEM(entry, 0), *vflag = PyTuple_GET_ITEM(entry, 1);
            PyObject *eseq = PyTuple_GET_ITEM(entry, 2), *evalue = PyTuple_GET_ITEM(entry, 3);
            PyObject *prev = PyDict_GetItemWithError(state, obj);
            if (prev == NULL) {
                Py_DECREF(entry);
                if (!PyErr_Occurred())
                    PyErr_SetObject(PyExc_KeyError, obj);
                goto fail;
            }
            PyObject *tkey = PyTuple_Pack(3, prev, PyList_GET_ITEM(eslot, 6), vflag);
            PyObject *trans = PyList_GET_ITEM(slot, 6);
            PyObject *t = tkey ? PyDict_GetItemWithError(trans, tkey) : NULL;
            Py_XDECREF(tkey);
            if (t == NULL && PyErr_Occurred()) {
                Py_DECREF(entry);
                goto fail;
            }
            if (t == NULL) {
                t = PyObject_CallMethod(agg, "_transition", "OOOOOOO", slot, fn, prev, eslot, vflag, eseq, seq);
                if (t == NULL) {
                    Py_DECREF(entry);
                    goto fail;
                }
            }
            else
                Py_INCREF(t);
            int vf = PyObject_IsTrue(vflag);
            if (!is_list(t, 5) || list_incr(t, 0) < 0 || (vf && note(PyList_GET_ITEM(t, 3), keep, eseq, evalue) < 0)) {
                Py_DECREF(t);
                Py_DECREF(entry);
                goto badf;
            }
            PyObject *node = PyList_GET_ITEM(t, 4);
            Py_INCREF(node);
            Py_DECREF(t);
            if (!is_yield && PyUnicode_CompareWithASCIIString(PyList_GET_ITEM(slot, 7), "raise") == 0) {
                /* rare (one per object at most): the anomaly check in Python */
                PyObject *r = PyObject_CallMethod(agg, "_raised", "OOOO", slot, eslot, seq, value);
                if (r == NULL) {
                    Py_DECREF(node);
                    Py_DECREF(entry);
                    goto fail;
                }
                Py_DECREF(r);
            }
            Py_DECREF(entry);
            if (!is_list(node, 6) || list_incr(node, 2) < 0) {
                Py_DECREF(node);
                goto badf;
            }
            if (is_yield) {
                PyObject *aw = PyList_GET_ITEM(slot, 4);
                Py_INCREF(aw);
                PyList_SetItem(node, 3, aw);
                if (value != Py_None && note(PyList_GET_ITEM(node, 4), keep, seq, value) < 0) {
                    Py_DECREF(node);
                    goto fail;
                }
                int r = PyDict_SetItem(state, obj, PyList_GET_ITEM(node, 5));
                Py_DECREF(node);
                if (r < 0)
                    goto fail;
                continue;
            }
            if (PyUnicode_CompareWithASCIIString(PyList_GET_ITEM(slot, 7), "raise") == 0 && value != Py_None &&
                    note(PyList_GET_ITEM(node, 4), keep, seq, value) < 0) {
                Py_DECREF(node);
                goto fail;
            }
            Py_DECREF(node);
        }
        else {
            int has = PyDict_Contains(state, obj);
            if (has < 0)
                goto fail;
            if (!has) {
                PyObject *r = PyObject_CallMethod(agg, "_first_event", "OOOO", fn, obj, seq, Py_False);
                if (r == NULL)
                    goto fail;
                Py_DECREF(r);
                if (is_yield)
                    continue;
            }
            else if (is_yield)
                continue;
        }
        /* it ended: forget it (its flow node, if its own, stays) */
        if (PyDict_DelItem(state, obj) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError))
                goto fail;
            PyErr_Clear();
        }
        if (PyDict_DelItem(fn_of, obj) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError))
                goto fail;
            PyErr_Clear();
        }
        continue;
    badf:
        if (PyErr_Occurred())
            goto fail;
    bad:
        PyErr_SetString(PyExc_TypeError, "malformed aggregator slot");
        goto fail;
    }
    PyObject *seen = PyObject_GetAttrString(agg, "events_seen");
    if (seen == NULL)
        goto fail;
    PyObject *count = PyLong_FromSsize_t(n);
    PyObject *total = count ? PyNumber_Add(seen, count) : NULL;
    Py_XDECREF(count);
    Py_DECREF(seen);
    if (total == NULL || PyObject_SetAttrString(agg, "events_seen", total) < 0) {
        Py_XDECREF(total);
        goto fail;
    }
    Py_DECREF(total);
    Py_DECREF(pending); Py_DECREF(state); Py_DECREF(fn_of);
    Py_RETURN_NONE;
fail:
    Py_DECREF(pending); Py_DECREF(state); Py_DECREF(fn_of);
    return NULL;
}

static PyMethodDef module_functions[] = {
    {"format_batch", format_batch, METH_VARARGS, "TraceWriter.flush's loop (see the C source)."},
    {"recursion_credit", py_recursion_credit, METH_O,
     "Give the current thread N more levels of recursion depth (N < 0: take them back)."},
    {"aggregate", aggregate, METH_VARARGS, "Aggregator.events (see the C source)."},
    {NULL}
};

/* ---------------------------------------------------------------- module */

static int
intern_all(void)
{
#define I(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return -1
    I(s_e, "e"); I(s_yield, "yield"); I(s_resume, "resume"); I(s_start, "start"); I(s_call, "call");
    I(s_return, "return"); I(s_unwind, "unwind"); I(s_other, "other"); I(s_throw, "throw"); I(s_close, "close"); I(s_next, "next");
    I(s_for, "for"); I(s_yield_from, "yield from"); I(s_await, "await"); I(s_async_for, "async for");
    I(s_asend, "asend"); I(s_anext, "anext"); I(s_generator, "generator"); I(s_coroutine, "coroutine");
    I(s_async_generator, "async_generator"); I(s_gi_suspended, "gi_suspended");
    I(s_cr_suspended, "cr_suspended"); I(s_gi_running, "gi_running"); I(s_cr_running, "cr_running");
    I(s_name_attr, "_name"); I(s_asyncio, "asyncio"); I(s_buf, "buf"); I(s_f_trace_lines, "f_trace_lines");
    I(s_collecting, "collecting"); I(s_deferred, "deferred"); I(s_deliver, "deliver"); I(s_flush, "flush");
    I(s_first, "first"); I(s_last, "last"); I(s_sp, "sp"); I(s_base, "base"); I(s_first_local, "first_local");
    I(s_ints, "ints"); I(s_gi_frame, "gi_frame"); I(s_cr_frame, "cr_frame"); I(s_ag_frame, "ag_frame");
#undef I
    return 0;
}

static struct PyModuleDef ccore_module = {
    PyModuleDef_HEAD_INIT, "_ccore",
    "cotrace's C core: the hot events of a recording (see tracer.record.core).", -1, module_functions,
};

PyMODINIT_FUNC
PyInit__ccore(void)
{
    /* refuse an interpreter other than the one this was compiled for */
    if ((Py_Version >> 16) != (PY_VERSION_HEX >> 16)) {
        PyErr_Format(PyExc_ImportError, "cotrace's C core was built for Python %d.%d",
                     PY_MAJOR_VERSION, PY_MINOR_VERSION);
        return NULL;
    }
    if (intern_all() < 0)
        return NULL;
    if (PyType_Ready(&ObjType) < 0 || PyType_Ready(&TSType) < 0 || PyType_Ready(&CoreType) < 0 ||
            PyType_Ready(&TracerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&ccore_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Obj", (PyObject *)&ObjType) < 0 ||
            PyModule_AddObjectRef(m, "ThreadState", (PyObject *)&TSType) < 0 ||
            PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0 ||
            PyModule_AddObjectRef(m, "Tracer", (PyObject *)&TracerType) < 0 ||
            PyModule_AddObject(m, "BUILT_FOR", Py_BuildValue("(ii)", PY_MAJOR_VERSION, PY_MINOR_VERSION)) < 0 ||
            PyModule_AddObject(m, "SCALAR_TYPES", Py_BuildValue("(OOOOOOO)", Py_TYPE(Py_None), &PyBool_Type,
                                                                &PyLong_Type, &PyFloat_Type, &PyComplex_Type,
                                                                &PyUnicode_Type, &PyBytes_Type)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
