/* The C floor of bench/floor.py: what a recorder whose per-event path is C
 * cannot go below on the ping-pong loop.  Built by floor.py on first use
 * (never by `pip install`: it is no part of cotrace).
 *
 *   cfloor.start(backend, mode)   backend "monitoring" | "settrace",
 *                                 mode "hook" (count the events) |
 *                                 "capture" (also read the frame, its line,
 *                                 the resumer's instruction and a small-int
 *                                 value into a fixed-size record)
 *   cfloor.stop() -> events
 *   cfloor.format() -> bytes      the captured records as JSON lines of the
 *                                 trace's shape (cheapest formatting: digits
 *                                 by hand, a constant tail)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <string.h>

typedef struct {
    long long seq, value;
    int kind, lasti, line, back_lasti;
} Rec;

static long long events;
static int capture;
static Rec *recs;
static Py_ssize_t nrec, caprec;
static PyObject *gen_code;  /* settrace: the frames to follow */
static int tool = -1;

static int
add(PyFrameObject *f, int kind, PyObject *value)
{
    events++;
    if (!capture)
        return 0;
    if (nrec == caprec) {
        Py_ssize_t cap = caprec ? caprec * 2 : 1 << 16;
        Rec *r = PyMem_Realloc(recs, cap * sizeof(Rec));
        if (r == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        recs = r;
        caprec = cap;
    }
    Rec *r = &recs[nrec++];
    r->seq = events;
    r->kind = kind;
    r->lasti = PyFrame_GetLasti(f);
    r->line = PyFrame_GetLineNumber(f);
    PyFrameObject *back = PyFrame_GetBack(f);
    r->back_lasti = back ? PyFrame_GetLasti(back) : -1;
    Py_XDECREF(back);
    int overflow = 0;
    r->value = value && PyLong_CheckExact(value) ? PyLong_AsLongLongAndOverflow(value, &overflow) : 0;
    return 0;
}

/* sys.monitoring callbacks: (code, offset) and (code, offset, value) */
static PyObject *
entered(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (capture) {
        PyFrameObject *f = PyEval_GetFrame();
        if (f && add(f, 0, NULL) < 0)
            return NULL;
    }
    else
        events++;
    Py_RETURN_NONE;
}

static PyObject *
left(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (capture) {
        PyFrameObject *f = PyEval_GetFrame();
        if (f && add(f, 1, nargs > 2 ? args[2] : NULL) < 0)
            return NULL;
    }
    else
        events++;
    Py_RETURN_NONE;
}

/* settrace: a callable object, as sys.settrace takes (the interpreter's
 * trampoline skips line events of frames whose f_trace_lines is off) */
typedef struct {
    PyObject_HEAD
} TraceObject;

static PyObject *
trace_call(PyObject *self, PyObject *args, PyObject *kw)
{
    PyObject *frame, *event, *arg;
    if (!PyArg_UnpackTuple(args, "trace", 3, 3, &frame, &event, &arg))
        return NULL;
    PyFrameObject *f = (PyFrameObject *)frame;
    PyCodeObject *code = PyFrame_GetCode(f);
    int mine = (PyObject *)code == gen_code;
    Py_DECREF(code);
    if (!mine)
        Py_RETURN_NONE;
    const char *e = PyUnicode_AsUTF8(event);
    if (e == NULL)
        return NULL;
    if (e[0] == 'c') {  /* call: a start or a resumption */
        if (PyObject_SetAttrString(frame, "f_trace_lines", Py_False) < 0)
            return NULL;
        if (add(f, 0, NULL) < 0)
            return NULL;
    }
    else if (e[0] == 'r') {
        if (add(f, 1, arg) < 0)
            return NULL;
    }
    return Py_NewRef(self);
}

static PyTypeObject TraceType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cfloor.Trace",
    .tp_basicsize = sizeof(TraceObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_call = trace_call,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef cb_defs[] = {
    {"entered", (PyCFunction)(void (*)(void))entered, METH_FASTCALL, NULL},
    {"left", (PyCFunction)(void (*)(void))left, METH_FASTCALL, NULL},
};

static PyObject *
call(const char *module, const char *attr, const char *fmt, ...)
{
    /* "sys" or "sys.monitoring" (an attribute of sys, not an importable module) */
    PyObject *mod = PyImport_ImportModule("sys");
    if (mod != NULL && strcmp(module, "sys") != 0)
        Py_SETREF(mod, PyObject_GetAttrString(mod, "monitoring"));
    if (mod == NULL)
        return NULL;
    PyObject *fn = PyObject_GetAttrString(mod, attr);
    Py_DECREF(mod);
    if (fn == NULL)
        return NULL;
    va_list va;
    va_start(va, fmt);
    PyObject *args = Py_VaBuildValue(fmt, va);
    va_end(va);
    PyObject *r = args ? PyObject_CallObject(fn, args) : NULL;
    Py_XDECREF(args);
    Py_DECREF(fn);
    return r;
}

static PyObject *
start(PyObject *self, PyObject *args)
{
    const char *backend, *mode;
    PyObject *code;
    if (!PyArg_ParseTuple(args, "ssO", &backend, &mode, &code))
        return NULL;
    events = nrec = 0;
    capture = strcmp(mode, "capture") == 0;
    Py_XSETREF(gen_code, Py_NewRef(code));
    if (strcmp(backend, "settrace") == 0) {
        PyObject *t = PyObject_CallNoArgs((PyObject *)&TraceType);
        PyObject *r = t ? call("sys", "settrace", "(O)", t) : NULL;
        Py_XDECREF(t);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
        Py_RETURN_NONE;
    }
    /* a free tool id; events PY_START, PY_RESUME, PY_YIELD, PY_RETURN */
    for (tool = 4; tool > 1; tool--) {
        PyObject *r = call("sys.monitoring", "get_tool", "(i)", tool);
        if (r == NULL)
            return NULL;
        int free_ = r == Py_None;
        Py_DECREF(r);
        if (free_)
            break;
    }
    PyObject *r = call("sys.monitoring", "use_tool_id", "(is)", tool, "cfloor");
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    PyObject *ev = PyImport_ImportModule("sys");
    PyObject *mon = ev ? PyObject_GetAttrString(ev, "monitoring") : NULL;
    PyObject *events_ns = mon ? PyObject_GetAttrString(mon, "events") : NULL;
    Py_XDECREF(ev);
    Py_XDECREF(mon);
    if (events_ns == NULL)
        return NULL;
    const char *names[4] = {"PY_START", "PY_RESUME", "PY_YIELD", "PY_RETURN"};
    long all = 0;
    for (int i = 0; i < 4; i++) {
        PyObject *v = PyObject_GetAttrString(events_ns, names[i]);
        long bit = v ? PyLong_AsLong(v) : -1;
        Py_XDECREF(v);
        if (bit == -1 && PyErr_Occurred()) {
            Py_DECREF(events_ns);
            return NULL;
        }
        all |= bit;
        PyObject *fn = PyCFunction_New(&cb_defs[i < 2 ? 0 : 1], NULL);
        PyObject *res = fn ? call("sys.monitoring", "register_callback", "(ilO)", tool, bit, fn) : NULL;
        Py_XDECREF(fn);
        if (res == NULL) {
            Py_DECREF(events_ns);
            return NULL;
        }
        Py_DECREF(res);
    }
    Py_DECREF(events_ns);
    r = call("sys.monitoring", "set_events", "(il)", tool, all);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyObject *
stop(PyObject *self, PyObject *unused)
{
    PyObject *r;
    if (tool > 1) {
        r = call("sys.monitoring", "set_events", "(ii)", tool, 0);
        Py_XDECREF(r);
        r = r ? call("sys.monitoring", "free_tool_id", "(i)", tool) : NULL;
        tool = -1;
    }
    else
        r = call("sys", "settrace", "(O)", Py_None);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    return PyLong_FromLongLong(events);
}

static char *
digits(char *p, long long v)
{
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *p++ = '-';
    while (n)
        *p++ = tmp[--n];
    return p;
}

static PyObject *
format(PyObject *self, PyObject *unused)
{
    static const char tail[] = ",\"ev\":\"yield\",\"obj\":1,\"by\":2,\"line\":";
    char *out = PyMem_Malloc(nrec * 160 + 1), *p = out;
    if (out == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < nrec; i++) {
        Rec *r = &recs[i];
        memcpy(p, "{\"seq\":", 7);
        p = digits(p + 7, r->seq);
        memcpy(p, ",\"t\":", 5);
        p = digits(p + 5, r->seq * 1000);
        if (r->kind) {
            memcpy(p, ",\"value\":\"", 10);
            p = digits(p + 10, r->value);
            *p++ = '"';
        }
        memcpy(p, tail, sizeof tail - 1);
        p = digits(p + sizeof tail - 1, r->line);
        *p++ = '}';
        *p++ = '\n';
    }
    PyObject *b = PyBytes_FromStringAndSize(out, p - out);
    PyMem_Free(out);
    return b;
}

static PyMethodDef functions[] = {
    {"start", start, METH_VARARGS, NULL},
    {"stop", stop, METH_NOARGS, NULL},
    {"format", format, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cfloor", NULL, -1, functions};

PyMODINIT_FUNC
PyInit_cfloor(void)
{
    if (PyType_Ready(&TraceType) < 0)
        return NULL;
    return PyModule_Create(&module);
}
