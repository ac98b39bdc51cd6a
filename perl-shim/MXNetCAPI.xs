/* AI::MXNetCAPI — the mxkv C API for Perl, with the calling convention of MXNet's SWIG binding
 * (reference §6.1): the MX prefix is stripped, every function returns (rc, outputs...) with the
 * outputs only when rc is 0, handles are objects blessed into KVStoreHandle / NDArrayHandle, key and
 * handle lists are array refs, compression parameters a hash ref, callbacks Perl code refs.
 *
 * Differences from the SWIG layer, all on the side of safety:
 *  - handle objects own their library handle: DESTROY frees it unless NDArrayFree / KVStoreFree
 *    already did (so the recv/local handles an updater receives are freed exactly once);
 *  - a Perl callback runs on its own Perl stack, under G_EVAL and inside a JMPENV: neither a die
 *    nor an exit() unwinds through the library. After a die the library call that ran the
 *    callback returns -1 and GetLastError gives "MXNetError: Perl updater died: ..."; an exit()
 *    resumes when the library call has returned;
 *  - lists shorter than `num`, buffers shorter than `size` and non-handle arguments croak instead of
 *    reading past the end of Perl's memory. */

/* The library's declarations come first: they must not meet Perl's macros. */
#include <mxkv.h>

#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <pthread.h>
#include <string.h>

#include "kernel.h"

#define ND_CLASS "NDArrayHandle"
#define KV_CLASS "KVStoreHandle"

/* ---- per-interpreter error state -------------------------------------------------------------- */

#define MY_CXT_KEY "AI::MXNetCAPI::_guts" XS_VERSION

typedef struct shim_callback shim_callback;

typedef struct {
    SV            *cb_error;           /* first failure of a Perl callback in the call under way */
    SV            *shim_error;         /* text of the newest failure reported by the shim itself */
    int            shim_error_is_last; /* 1 while that failure is newer than the library's */
    int            depth;              /* library calls in progress (callbacks nest them) */
    shim_callback *retired;            /* replaced callbacks, freed when depth is back to 0 */
    int            pending_jump;       /* an exit() in a callback, resumed once the library returns */
} my_cxt_t;

START_MY_CXT

/* Callbacks that the library made from a thread without a Perl interpreter (never expected:
 * reference §1.4 and contract say callbacks run on the calling thread). */
static unsigned long foreign_calls;

static unsigned long foreign_count(void)
{
    return __atomic_load_n(&foreign_calls, __ATOMIC_SEQ_CST);
}

/* ---- handles -------------------------------------------------------------------------------- */

struct shim_callback {
    SV            *code;     /* int-key updater, or the controller */
    SV            *str_code; /* string-key updater when it differs from code (SetUpdaterEx) */
    void          *perl;     /* the interpreter that may run it */
    pthread_t      thread;
    shim_callback *next;     /* in the retired list */
};

typedef struct {
    void          *ptr;     /* the library's handle */
    int            owned;   /* DESTROY frees ptr while this is set */
    shim_callback *updater; /* KVStoreHandle: the installed Perl updater */
} shim_handle;

static SV *handle_new(pTHX_ const char *cls, void *ptr, int owned)
{
    shim_handle *h;
    SV *rv = newSV(0);
    Newxz(h, 1, shim_handle);
    h->ptr = ptr;
    h->owned = owned;
    sv_setref_pv(rv, cls, (void *)h);
    return rv;
}

/* undef stands for NULL (the library then reports the bad handle); anything else must be a handle.
 * A store's handle object is kept alive until the caller's statement ends: an updater running
 * during the call may drop the last reference to it. */
static shim_handle *handle_arg(pTHX_ SV *sv, const char *cls, const char *func)
{
    SvGETMAGIC(sv);
    if (!SvOK(sv))
        return NULL;
    if (!SvROK(sv) || !sv_derived_from(sv, cls))
        croak("%s: expected a %s, got %" SVf, func, cls, SVfARG(sv));
    if (strEQ(cls, KV_CLASS))
        sv_2mortal(SvREFCNT_inc_simple_NN(SvRV(sv)));
    return INT2PTR(shim_handle *, SvIV(SvRV(sv)));
}

#define HPTR(h) ((h) ? (h)->ptr : NULL)

static shim_callback *callback_new(pTHX_ SV *code, SV *str_code)
{
    shim_callback *cb;
    Newxz(cb, 1, shim_callback);
    cb->code = code ? newSVsv(code) : NULL;
    cb->str_code = str_code ? newSVsv(str_code) : NULL;
#ifdef PERL_IMPLICIT_CONTEXT
    cb->perl = aTHX;
#endif
    cb->thread = pthread_self();
    return cb;
}

static void callback_free(pTHX_ shim_callback *cb)
{
    SvREFCNT_dec(cb->code);
    SvREFCNT_dec(cb->str_code);
    Safefree(cb);
}

/* A callback that was replaced, or whose store was freed, may still be called by a library call
 * in progress (the rest of a push whose updater replaced itself or freed its store): it is freed
 * when no library call is in progress any more. */
static void callback_retire(pTHX_ shim_callback *cb)
{
    dMY_CXT;
    if (!cb)
        return;
    if (MY_CXT.depth > 0) {
        cb->next = MY_CXT.retired;
        MY_CXT.retired = cb;
    } else {
        callback_free(aTHX_ cb);
    }
}

static void free_retired(pTHX)
{
    dMY_CXT;
    while (MY_CXT.retired) {
        shim_callback *cb = MY_CXT.retired;
        MY_CXT.retired = cb->next;
        callback_free(aTHX_ cb);
    }
}

static int callback_on_its_thread(shim_callback *cb)
{
#ifdef PERL_IMPLICIT_CONTEXT
    return PERL_GET_CONTEXT == cb->perl;
#else
    return pthread_equal(pthread_self(), cb->thread);
#endif
}

static int is_code(pTHX_ SV *sv)
{
    return SvROK(sv) && (SvTYPE(SvRV(sv)) == SVt_PVCV || SvAMAGIC(sv));
}

/* ---- errors --------------------------------------------------------------------------------- */

static void set_shim_error(pTHX_ SV *msg)
{
    dMY_CXT;
    if (!MY_CXT.shim_error)
        MY_CXT.shim_error = newSV(0);
    sv_setpvf(MY_CXT.shim_error, "MXNetError: %" SVf, SVfARG(msg));
    SvREFCNT_dec(msg);
    MY_CXT.shim_error_is_last = 1;
}

/* The text of ERRSV as a new SV "Perl <what> died: <msg>", and ERRSV cleared. */
static SV *callback_error(pTHX_ const char *what)
{
    STRLEN len;
    const char *msg = SvPV(ERRSV, len);
    SV *err;
    while (len && msg[len - 1] == '\n')
        len--;
    err = newSVpvf("Perl %s died: %.*s", what, (int)len, msg);
    sv_setpvs(ERRSV, "");
    return err;
}

static int shim_finish(pTHX_ int rc, SV *saved, unsigned long foreign_before)
{
    dMY_CXT;
    SV *err = MY_CXT.cb_error;
    MY_CXT.cb_error = saved;
    if (!err && foreign_count() != foreign_before)
        err = newSVpvs("the library called a Perl callback from a thread that is not the Perl "
                       "thread; the callback was not run");
    if (err) {
        set_shim_error(aTHX_ err);
        return -1;
    }
    if (rc != 0)
        MY_CXT.shim_error_is_last = 0;
    return rc;
}

/* Every library call goes through here. Callbacks it runs report into a fresh slot (saved and
 * restored, since a callback may itself call the library). They also use the Perl stack, which
 * may move: the stack pointer is handed over before the call and read back after it (the
 * arguments were all converted to C values before). */
#define SHIM_CALL(rc, call)                                                                    \
    STMT_START {                                                                               \
        dMY_CXT;                                                                               \
        SV *saved_ = MY_CXT.cb_error;                                                          \
        unsigned long foreign_ = foreign_count();                                              \
        MY_CXT.cb_error = NULL;                                                                \
        MY_CXT.depth++;                                                                        \
        PUTBACK;                                                                               \
        rc = (call);                                                                           \
        if (MY_CXT.pending_jump)                                                               \
            resume_jump(aTHX);                                                                 \
        SPAGAIN;                                                                               \
        if (--MY_CXT.depth == 0 && MY_CXT.retired)                                             \
            free_retired(aTHX);                                                                \
        rc = shim_finish(aTHX_ rc, saved_, foreign_);                                          \
    } STMT_END

/* A callback called exit(): Perl unwound itself to the top level, where our trampoline caught the
 * jump so that it does not cross the library's frames. Now that the library has returned,
 * the exit goes on. */
static void resume_jump(pTHX)
{
    dMY_CXT;
    int v = MY_CXT.pending_jump;
    MY_CXT.pending_jump = 0;
    JMPENV_JUMP(v);
}

static void croak_library(pTHX)
{
    dMY_CXT;
    MY_CXT.shim_error_is_last = 0;
    croak("%s", MXGetLastError());
}

/* ---- trampolines ---------------------------------------------------------------------------- */

/* Runs a Perl callback with (key, recv, local) or (head, body) on a stack of its own (so that a
 * `last LABEL` cannot leave it for a loop outside), under G_EVAL (a die is recorded in cb_error),
 * and inside a JMPENV (an exit() is recorded in pending_jump and resumed after the library
 * call). Takes over the argument SVs: they are freed when the callback returns, which for
 * handle objects frees the library handles unless the callback kept them. Returns 0 when the
 * callback ran and returned. */
static int run_callback(pTHX_ SV *code, SV *a, SV *b, SV *c, const char *what)
{
    dMY_CXT;
    dSP;
    int ret;
    dJMPENV;
    PUSHSTACKi(PERLSI_MAGIC);
    JMPENV_PUSH(ret);
    if (ret == 0) {
        SPAGAIN;
        ENTER;
        SAVETMPS;
        PUSHMARK(SP);
        EXTEND(SP, 3);
        PUSHs(sv_2mortal(a));
        PUSHs(sv_2mortal(b));
        if (c)
            PUSHs(sv_2mortal(c));
        PUTBACK;
        call_sv(code, G_DISCARD | G_EVAL);
        if (SvTRUE(ERRSV)) {
            SV *err = callback_error(aTHX_ what);
            if (MY_CXT.cb_error)
                SvREFCNT_dec(err);
            else
                MY_CXT.cb_error = err;
        }
        FREETMPS;
        LEAVE;
    }
    JMPENV_POP;
    if (ret != 0) {
        /* exit(): Perl has already unwound every stack and scope. */
        MY_CXT.pending_jump = ret;
        return -1;
    }
    POPSTACK;
    return 0;
}

static void updater_common(shim_callback *cb, int key, const char *str_key,
                           NDArrayHandle recv, NDArrayHandle local)
{
    SV *code;
    if (!cb || !callback_on_its_thread(cb)) {
        __atomic_add_fetch(&foreign_calls, 1, __ATOMIC_SEQ_CST);
        MXNDArrayFree(recv);
        MXNDArrayFree(local);
        return;
    }
    code = str_key && cb->str_code ? cb->str_code : cb->code;
    {
        dTHXa(cb->perl);
        dMY_CXT;
        /* After a die, the remaining keys of this push are left as they are, as a die ends a
         * Perl loop; their handles are still ours to free. */
        if (MY_CXT.cb_error || MY_CXT.pending_jump || !code) {
            MXNDArrayFree(recv);
            MXNDArrayFree(local);
            return;
        }
        /* The handle objects own recv and local from here on. */
        run_callback(aTHX_ code, str_key ? newSVpv(str_key, 0) : newSViv(key),
                     handle_new(aTHX_ ND_CLASS, recv, 1), handle_new(aTHX_ ND_CLASS, local, 1),
                     "updater");
    }
}

static void updater_trampoline(int key, NDArrayHandle recv, NDArrayHandle local, void *handle)
{
    updater_common((shim_callback *)handle, key, NULL, recv, local);
}

static void str_updater_trampoline(const char *key, NDArrayHandle recv, NDArrayHandle local,
                                   void *handle)
{
    updater_common((shim_callback *)handle, 0, key ? key : "", recv, local);
}

static void controller_trampoline(int head, const char *body, void *handle)
{
    shim_callback *cb = (shim_callback *)handle;
    if (!cb || !callback_on_its_thread(cb)) {
        __atomic_add_fetch(&foreign_calls, 1, __ATOMIC_SEQ_CST);
        return;
    }
    {
        dTHXa(cb->perl);
        dMY_CXT;
        SV *before = MY_CXT.cb_error;
        if (MY_CXT.pending_jump)
            return;
        /* A server keeps serving after a die: it is reported now, and by RunServer at the end. */
        MY_CXT.cb_error = NULL;
        if (run_callback(aTHX_ cb->code, newSViv(head), newSVpv(body ? body : "", 0), NULL,
                         "server controller") == 0
            && MY_CXT.cb_error) {
            warn("%" SVf "\n", SVfARG(MY_CXT.cb_error));
        }
        if (before) {
            SvREFCNT_dec(MY_CXT.cb_error);
            MY_CXT.cb_error = before;
        }
    }
}

/* ---- argument lists ------------------------------------------------------------------------- */

static void *tmp_buffer(pTHX_ size_t bytes)
{
    SV *buf = sv_2mortal(newSV(bytes ? bytes : 1));
    return SvPVX(buf);
}

static AV *list_arg(pTHX_ SV *sv, U32 num, const char *func, const char *what)
{
    AV *av;
    SvGETMAGIC(sv);
    if (!SvOK(sv)) {
        if (num)
            croak("%s: %s is undef but num is %u", func, what, (unsigned)num);
        return NULL;
    }
    if (!SvROK(sv) || SvTYPE(SvRV(sv)) != SVt_PVAV)
        croak("%s: %s must be an array reference", func, what);
    av = (AV *)SvRV(sv);
    if ((SSize_t)num > av_top_index(av) + 1)
        croak("%s: num is %u but %s has %ld elements", func, (unsigned)num, what,
              (long)(av_top_index(av) + 1));
    return av;
}

static SV *list_elem(pTHX_ AV *av, U32 i, const char *func, const char *what)
{
    SV **e = av_fetch(av, i, 0);
    if (!e || !*e)
        croak("%s: element %u of %s is missing", func, (unsigned)i, what);
    SvGETMAGIC(*e);
    return *e;
}

static const char **str_list(pTHX_ SV *sv, U32 num, const char *func, const char *what)
{
    AV *av = list_arg(aTHX_ sv, num, func, what);
    const char **out;
    U32 i;
    if (!num)
        return NULL;
    out = (const char **)tmp_buffer(aTHX_ num * sizeof *out);
    for (i = 0; i < num; i++) {
        SV *e = list_elem(aTHX_ av, i, func, what);
        if (!SvOK(e))
            croak("%s: element %u of %s is undef", func, (unsigned)i, what);
        /* A copy: a callback run during the call must not be able to change the key under us. */
        out[i] = SvPV_nolen(sv_2mortal(newSVsv(e)));
    }
    return out;
}

static IV number_elem(pTHX_ SV *e, U32 i, const char *func, const char *what, IV lo, IV hi)
{
    IV v;
    if (!SvOK(e) || !looks_like_number(e))
        croak("%s: element %u of %s is not a number", func, (unsigned)i, what);
    v = SvIV(e);
    if (v < lo || v > hi || (SvNOK(e) && SvNV(e) != (NV)v))
        croak("%s: element %u of %s (%" SVf ") is not an integer in [%" IVdf ", %" IVdf "]", func,
              (unsigned)i, what, SVfARG(e), lo, hi);
    return v;
}

static const int *int_list(pTHX_ SV *sv, U32 num, const char *func, const char *what)
{
    AV *av = list_arg(aTHX_ sv, num, func, what);
    int *out;
    U32 i;
    if (!num)
        return NULL;
    out = (int *)tmp_buffer(aTHX_ num * sizeof *out);
    for (i = 0; i < num; i++)
        out[i] = (int)number_elem(aTHX_ list_elem(aTHX_ av, i, func, what), i, func, what,
                                  INT32_MIN, INT32_MAX);
    return out;
}

static const uint32_t *uint_list(pTHX_ SV *sv, U32 num, const char *func, const char *what)
{
    AV *av = list_arg(aTHX_ sv, num, func, what);
    uint32_t *out;
    U32 i;
    if (!num)
        return NULL;
    out = (uint32_t *)tmp_buffer(aTHX_ num * sizeof *out);
    for (i = 0; i < num; i++)
        out[i] = (uint32_t)number_elem(aTHX_ list_elem(aTHX_ av, i, func, what), i, func, what, 0,
                                       (IV)UINT32_MAX);
    return out;
}

static const int64_t *i64_list(pTHX_ SV *sv, U32 num, const char *func, const char *what)
{
    AV *av = list_arg(aTHX_ sv, num, func, what);
    int64_t *out;
    U32 i;
    if (!num)
        return NULL;
    out = (int64_t *)tmp_buffer(aTHX_ num * sizeof *out);
    for (i = 0; i < num; i++)
        out[i] = (int64_t)number_elem(aTHX_ list_elem(aTHX_ av, i, func, what), i, func, what,
                                      IV_MIN, IV_MAX);
    return out;
}

static NDArrayHandle *nd_list(pTHX_ SV *sv, U32 num, const char *func, const char *what)
{
    AV *av = list_arg(aTHX_ sv, num, func, what);
    NDArrayHandle *out;
    U32 i;
    if (!num)
        return NULL;
    out = (NDArrayHandle *)tmp_buffer(aTHX_ num * sizeof *out);
    for (i = 0; i < num; i++)
        out[i] = HPTR(handle_arg(aTHX_ list_elem(aTHX_ av, i, func, what), ND_CLASS, func));
    return out;
}

static SV *shape_ref(pTHX_ int ndim, const int64_t *dims64, const int *dims, const uint32_t *udims)
{
    AV *av;
    int i;
    if (ndim < 0)
        return &PL_sv_undef;
    av = newAV();
    for (i = 0; i < ndim; i++)
        av_push(av, dims64 ? newSViv((IV)dims64[i]) : dims ? newSViv(dims[i]) : newSVuv(udims[i]));
    return sv_2mortal(newRV_noinc((SV *)av));
}

/* Bytes per element of an array, or -1 with the library's error set. */
static int elem_size(NDArrayHandle h, size_t *out)
{
    int dtype;
    if (MXNDArrayGetDType(h, &dtype) != 0)
        return -1;
    *out = kernel_dtype_size(dtype);
    return 0;
}

/* ---- the arrays behind AI::MXNet::NDArray's arithmetic ---------------------------------------- */

#define MAX_DIMS 32

typedef struct {
    NDArrayHandle h;
    void   *data;
    size_t  n;
    int     dtype;
    int     ndim;
    int64_t dims[MAX_DIMS];
} array_view;

static void array_get(pTHX_ SV *sv, const char *func, int for_write, array_view *out)
{
    NDArrayHandle h = HPTR(handle_arg(aTHX_ sv, ND_CLASS, func));
    int ndim, i;
    const int64_t *dims;
    if (MXNDArrayGetShapeEx64(h, &ndim, &dims) != 0 || MXNDArrayGetDType(h, &out->dtype) != 0 ||
        (for_write ? MXNDArrayWaitToWrite(h) : MXNDArrayWaitToRead(h)) != 0 ||
        MXNDArrayGetData(h, &out->data) != 0)
        croak_library(aTHX);
    if (ndim > MAX_DIMS)
        croak("%s: %d dimensions", func, ndim);
    out->h = h;
    out->ndim = ndim < 0 ? 0 : ndim;
    out->n = ndim > 0 ? 1 : 0;
    for (i = 0; i < ndim; i++) {
        out->dims[i] = dims[i];    /* GetShapeEx64's buffer is reused by the next call */
        out->n *= (size_t)dims[i];
    }
    if (out->n && !out->data)
        croak("%s: the array has no data", func);
    if (!kernel_dtype_size(out->dtype))
        croak("%s: dtype %d is not supported", func, out->dtype);
}

static void same_size(pTHX_ const char *func, const array_view *a, const array_view *b)
{
    if (a->n != b->n)
        croak("%s: arrays of %lu and %lu elements", func, (unsigned long)a->n, (unsigned long)b->n);
}

static int kernel_op_arg(pTHX_ const char *name, const char *func)
{
    int op = kernel_op_from_name(name);
    if (op < 0)
        croak("%s: unknown operation '%s'", func, name);
    return op;
}

static int same_shape(const array_view *a, const array_view *b)
{
    int i;
    if (a->ndim != b->ndim)
        return 0;
    for (i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

#define PUSH_RC(rc) mXPUSHi(rc)

MODULE = AI::MXNetCAPI  PACKAGE = AI::MXNetCAPI

PROTOTYPES: DISABLE

BOOT:
{
    MY_CXT_INIT;
    Zero(&MY_CXT, 1, my_cxt_t);
}

void
CLONE(...)
  CODE:
    MY_CXT_CLONE;
    Zero(&MY_CXT, 1, my_cxt_t);

SV *
GetLastError()
  CODE:
    dMY_CXT;
    if (MY_CXT.shim_error_is_last && MY_CXT.shim_error)
        RETVAL = newSVsv(MY_CXT.shim_error);
    else
        RETVAL = newSVpv(MXGetLastError(), 0);
  OUTPUT:
    RETVAL

void
GetVersion()
  PPCODE:
    int rc, v = 0;
    SHIM_CALL(rc, MXGetVersion(&v));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

void
KVGetVersion()
  PPCODE:
    int rc, v = 0;
    SHIM_CALL(rc, MXKVGetVersion(&v));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

void
NotifyShutdown()
  PPCODE:
    int rc;
    SHIM_CALL(rc, MXNotifyShutdown());
    PUSH_RC(rc);

 # ---- KVStore --------------------------------------------------------------------------------

void
KVStoreCreate(type)
    const char *type
  PPCODE:
    KVStoreHandle out = NULL;
    int rc;
    SHIM_CALL(rc, MXKVStoreCreate(type, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ KV_CLASS, out, 1)));

void
KVStoreFree(handle)
    SV *handle
  PPCODE:
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, "KVStoreFree");
    int rc;
    SHIM_CALL(rc, MXKVStoreFree(HPTR(kv)));
    if (rc == 0 && kv) {
        kv->owned = 0;
        callback_retire(aTHX_ kv->updater);
        kv->updater = NULL;
    }
    PUSH_RC(rc);

void
KVStoreSetGradientCompression(handle, num, params)
    SV *handle
    U32 num
    SV *params
  PPCODE:
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, "KVStoreSetGradientCompression");
    const char **keys = NULL, **vals = NULL;
    HV *hv;
    HE *he;
    U32 i = 0;
    int rc;
    if (!SvROK(params) || SvTYPE(SvRV(params)) != SVt_PVHV)
        croak("KVStoreSetGradientCompression: params must be a hash reference");
    hv = (HV *)SvRV(params);
    if (num > HvUSEDKEYS(hv))
        croak("KVStoreSetGradientCompression: num is %u but params has %u keys", (unsigned)num,
              (unsigned)HvUSEDKEYS(hv));
    if (num) {
        keys = (const char **)tmp_buffer(aTHX_ num * sizeof *keys);
        vals = (const char **)tmp_buffer(aTHX_ num * sizeof *vals);
        hv_iterinit(hv);
        while (i < num && (he = hv_iternext(hv))) {
            keys[i] = SvPV_nolen(sv_2mortal(newSVsv(hv_iterkeysv(he))));
            vals[i] = SvPV_nolen(sv_2mortal(newSVsv(hv_iterval(hv, he))));
            i++;
        }
    }
    SHIM_CALL(rc, MXKVStoreSetGradientCompression(HPTR(kv), num, keys, vals));
    PUSH_RC(rc);

void
KVStoreInit(handle, num, keys, vals)
    SV *handle
    U32 num
    SV *keys
    SV *vals
  PPCODE:
    const char *f = "KVStoreInit";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const int *k = int_list(aTHX_ keys, num, f, "keys");
    NDArrayHandle *v = nd_list(aTHX_ vals, num, f, "vals");
    int rc;
    SHIM_CALL(rc, MXKVStoreInit(HPTR(kv), num, k, v));
    PUSH_RC(rc);

void
KVStoreInitEx(handle, num, keys, vals)
    SV *handle
    U32 num
    SV *keys
    SV *vals
  PPCODE:
    const char *f = "KVStoreInitEx";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const char **k = str_list(aTHX_ keys, num, f, "keys");
    NDArrayHandle *v = nd_list(aTHX_ vals, num, f, "vals");
    int rc;
    SHIM_CALL(rc, MXKVStoreInitEx(HPTR(kv), num, k, v));
    PUSH_RC(rc);

void
KVStorePush(handle, num, keys, vals, priority = 0)
    SV *handle
    U32 num
    SV *keys
    SV *vals
    int priority
  PPCODE:
    const char *f = "KVStorePush";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const int *k = int_list(aTHX_ keys, num, f, "keys");
    NDArrayHandle *v = nd_list(aTHX_ vals, num, f, "vals");
    int rc;
    SHIM_CALL(rc, MXKVStorePush(HPTR(kv), num, k, v, priority));
    PUSH_RC(rc);

void
KVStorePushEx(handle, num, keys, vals, priority = 0)
    SV *handle
    U32 num
    SV *keys
    SV *vals
    int priority
  PPCODE:
    const char *f = "KVStorePushEx";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const char **k = str_list(aTHX_ keys, num, f, "keys");
    NDArrayHandle *v = nd_list(aTHX_ vals, num, f, "vals");
    int rc;
    SHIM_CALL(rc, MXKVStorePushEx(HPTR(kv), num, k, v, priority));
    PUSH_RC(rc);

void
KVStorePull(handle, num, keys, vals, priority = 0)
    SV *handle
    U32 num
    SV *keys
    SV *vals
    int priority
  PPCODE:
    const char *f = "KVStorePull";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const int *k = int_list(aTHX_ keys, num, f, "keys");
    NDArrayHandle *v = nd_list(aTHX_ vals, num, f, "vals");
    int rc;
    SHIM_CALL(rc, MXKVStorePull(HPTR(kv), num, k, v, priority));
    PUSH_RC(rc);

void
KVStorePullEx(handle, num, keys, vals, priority = 0)
    SV *handle
    U32 num
    SV *keys
    SV *vals
    int priority
  PPCODE:
    const char *f = "KVStorePullEx";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const char **k = str_list(aTHX_ keys, num, f, "keys");
    NDArrayHandle *v = nd_list(aTHX_ vals, num, f, "vals");
    int rc;
    SHIM_CALL(rc, MXKVStorePullEx(HPTR(kv), num, k, v, priority));
    PUSH_RC(rc);

void
KVStorePullWithSparse(handle, num, keys, vals, priority = 0, ignore_sparse = 1)
    SV *handle
    U32 num
    SV *keys
    SV *vals
    int priority
    int ignore_sparse
  PPCODE:
    const char *f = "KVStorePullWithSparse";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const int *k = int_list(aTHX_ keys, num, f, "keys");
    NDArrayHandle *v = nd_list(aTHX_ vals, num, f, "vals");
    int rc;
    SHIM_CALL(rc, MXKVStorePullWithSparse(HPTR(kv), num, k, v, priority, ignore_sparse != 0));
    PUSH_RC(rc);

void
KVStorePullWithSparseEx(handle, num, keys, vals, priority = 0, ignore_sparse = 1)
    SV *handle
    U32 num
    SV *keys
    SV *vals
    int priority
    int ignore_sparse
  PPCODE:
    const char *f = "KVStorePullWithSparseEx";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const char **k = str_list(aTHX_ keys, num, f, "keys");
    NDArrayHandle *v = nd_list(aTHX_ vals, num, f, "vals");
    int rc;
    SHIM_CALL(rc, MXKVStorePullWithSparseEx(HPTR(kv), num, k, v, priority, ignore_sparse != 0));
    PUSH_RC(rc);

#ifdef HAVE_MXKVStorePullRowSparse

void
KVStorePullRowSparse(handle, num, keys, vals, row_ids, priority = 0)
    SV *handle
    U32 num
    SV *keys
    SV *vals
    SV *row_ids
    int priority
  PPCODE:
    const char *f = "KVStorePullRowSparse";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const int *k = int_list(aTHX_ keys, num, f, "keys");
    NDArrayHandle *v = nd_list(aTHX_ vals, num, f, "vals");
    NDArrayHandle *r = nd_list(aTHX_ row_ids, num, f, "row_ids");
    int rc;
    SHIM_CALL(rc, MXKVStorePullRowSparse(HPTR(kv), num, k, v, (const NDArrayHandle *)r, priority));
    PUSH_RC(rc);

#endif

#ifdef HAVE_MXKVStorePullRowSparseEx

void
KVStorePullRowSparseEx(handle, num, keys, vals, row_ids, priority = 0)
    SV *handle
    U32 num
    SV *keys
    SV *vals
    SV *row_ids
    int priority
  PPCODE:
    const char *f = "KVStorePullRowSparseEx";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const char **k = str_list(aTHX_ keys, num, f, "keys");
    NDArrayHandle *v = nd_list(aTHX_ vals, num, f, "vals");
    NDArrayHandle *r = nd_list(aTHX_ row_ids, num, f, "row_ids");
    int rc;
    SHIM_CALL(rc, MXKVStorePullRowSparseEx(HPTR(kv), num, k, v, (const NDArrayHandle *)r,
                                           priority));
    PUSH_RC(rc);

#endif

void
KVStoreBroadcast(handle, vnum, vkeys, onum, okeys, vals, outs, priority = 0)
    SV *handle
    U32 vnum
    SV *vkeys
    U32 onum
    SV *okeys
    SV *vals
    SV *outs
    int priority
  PPCODE:
    const char *f = "KVStoreBroadcast";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const int *vk = int_list(aTHX_ vkeys, vnum, f, "vkeys");
    const int *ok = int_list(aTHX_ okeys, onum, f, "okeys");
    NDArrayHandle *v = nd_list(aTHX_ vals, vnum, f, "vals");
    NDArrayHandle *o = nd_list(aTHX_ outs, onum, f, "outs");
    int rc;
    SHIM_CALL(rc, MXKVStoreBroadcast(HPTR(kv), vnum, vk, onum, ok, v, o, priority));
    PUSH_RC(rc);

void
KVStoreBroadcastEx(handle, vnum, vkeys, onum, okeys, vals, outs, priority = 0)
    SV *handle
    U32 vnum
    SV *vkeys
    U32 onum
    SV *okeys
    SV *vals
    SV *outs
    int priority
  PPCODE:
    const char *f = "KVStoreBroadcastEx";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const char **vk = str_list(aTHX_ vkeys, vnum, f, "vkeys");
    const char **ok = str_list(aTHX_ okeys, onum, f, "okeys");
    NDArrayHandle *v = nd_list(aTHX_ vals, vnum, f, "vals");
    NDArrayHandle *o = nd_list(aTHX_ outs, onum, f, "outs");
    int rc;
    SHIM_CALL(rc, MXKVStoreBroadcastEx(HPTR(kv), vnum, vk, onum, ok, v, o, priority));
    PUSH_RC(rc);

void
KVStorePushPull(handle, vnum, vkeys, onum, okeys, vals, outs, priority = 0)
    SV *handle
    U32 vnum
    SV *vkeys
    U32 onum
    SV *okeys
    SV *vals
    SV *outs
    int priority
  PPCODE:
    const char *f = "KVStorePushPull";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const int *vk = int_list(aTHX_ vkeys, vnum, f, "vkeys");
    const int *ok = int_list(aTHX_ okeys, onum, f, "okeys");
    NDArrayHandle *v = nd_list(aTHX_ vals, vnum, f, "vals");
    NDArrayHandle *o = nd_list(aTHX_ outs, onum, f, "outs");
    int rc;
    SHIM_CALL(rc, MXKVStorePushPull(HPTR(kv), vnum, vk, onum, ok, v, o, priority));
    PUSH_RC(rc);

void
KVStorePushPullEx(handle, vnum, vkeys, onum, okeys, vals, outs, priority = 0)
    SV *handle
    U32 vnum
    SV *vkeys
    U32 onum
    SV *okeys
    SV *vals
    SV *outs
    int priority
  PPCODE:
    const char *f = "KVStorePushPullEx";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const char **vk = str_list(aTHX_ vkeys, vnum, f, "vkeys");
    const char **ok = str_list(aTHX_ okeys, onum, f, "okeys");
    NDArrayHandle *v = nd_list(aTHX_ vals, vnum, f, "vals");
    NDArrayHandle *o = nd_list(aTHX_ outs, onum, f, "outs");
    int rc;
    SHIM_CALL(rc, MXKVStorePushPullEx(HPTR(kv), vnum, vk, onum, ok, v, o, priority));
    PUSH_RC(rc);

void
KVStoreSetUpdater(handle, updater)
    SV *handle
    SV *updater
  PPCODE:
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, "KVStoreSetUpdater");
    shim_callback *cb = NULL;
    int rc;
    if (SvOK(updater)) {
        if (!is_code(aTHX_ updater))
            croak("KVStoreSetUpdater: the updater must be a code reference");
        cb = callback_new(aTHX_ updater, NULL);
    }
    SHIM_CALL(rc, MXKVStoreSetUpdater(HPTR(kv), cb ? updater_trampoline : NULL, cb));
    if (rc == 0 && kv) {
        callback_retire(aTHX_ kv->updater);
        kv->updater = cb;
    } else {
        callback_retire(aTHX_ cb);
    }
    PUSH_RC(rc);

void
KVStoreSetUpdaterEx(handle, updater, str_updater = &PL_sv_undef)
    SV *handle
    SV *updater
    SV *str_updater
  PPCODE:
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, "KVStoreSetUpdaterEx");
    shim_callback *cb = NULL;
    int have_int = SvOK(updater), have_str = SvOK(str_updater);
    int rc;
    if ((have_int && !is_code(aTHX_ updater)) || (have_str && !is_code(aTHX_ str_updater)))
        croak("KVStoreSetUpdaterEx: updaters must be code references");
    if (have_int || have_str)
        cb = callback_new(aTHX_ have_int ? updater : NULL, have_str ? str_updater : NULL);
    /* As in MXNet's binding, one code ref given alone serves both key kinds. */
    SHIM_CALL(rc, MXKVStoreSetUpdaterEx(HPTR(kv), have_int ? updater_trampoline : NULL,
                                        cb ? str_updater_trampoline : NULL, cb));
    if (rc == 0 && kv) {
        callback_retire(aTHX_ kv->updater);
        kv->updater = cb;
    } else {
        callback_retire(aTHX_ cb);
    }
    PUSH_RC(rc);

void
KVStoreSetOptimizer(handle, name, num, keys, vals)
    SV *handle
    const char *name
    U32 num
    SV *keys
    SV *vals
  PPCODE:
    const char *f = "KVStoreSetOptimizer";
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, f);
    const char **k = str_list(aTHX_ keys, num, f, "keys");
    const char **v = str_list(aTHX_ vals, num, f, "vals");
    int rc;
    SHIM_CALL(rc, MXKVStoreSetOptimizer(HPTR(kv), name, num, k, v));
    /* The native optimizer replaced the Perl updater in the store. */
    if (rc == 0 && kv) {
        callback_retire(aTHX_ kv->updater);
        kv->updater = NULL;
    }
    PUSH_RC(rc);

void
KVStoreSaveOptimizerStates(handle, fname)
    SV *handle
    const char *fname
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, KV_CLASS, "KVStoreSaveOptimizerStates"));
    int rc;
    SHIM_CALL(rc, MXKVStoreSaveOptimizerStates(h_, fname));
    PUSH_RC(rc);

void
KVStoreLoadOptimizerStates(handle, fname)
    SV *handle
    const char *fname
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, KV_CLASS, "KVStoreLoadOptimizerStates"));
    int rc;
    SHIM_CALL(rc, MXKVStoreLoadOptimizerStates(h_, fname));
    PUSH_RC(rc);

void
KVOptimizerUpdate(op, num_arrays, arrays, num_params, keys, vals)
    const char *op
    U32 num_arrays
    SV *arrays
    U32 num_params
    SV *keys
    SV *vals
  PPCODE:
    const char *f = "KVOptimizerUpdate";
    NDArrayHandle *a = nd_list(aTHX_ arrays, num_arrays, f, "arrays");
    const char **k = str_list(aTHX_ keys, num_params, f, "keys");
    const char **v = str_list(aTHX_ vals, num_params, f, "vals");
    int rc;
    SHIM_CALL(rc, MXKVOptimizerUpdate(op, num_arrays, a, num_params, k, v));
    PUSH_RC(rc);

void
KVStoreGetType(handle)
    SV *handle
  PPCODE:
    const char *type = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, KV_CLASS, "KVStoreGetType"));
    int rc;
    SHIM_CALL(rc, MXKVStoreGetType(h_, &type));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHp(type ? type : "", type ? strlen(type) : 0);

void
KVStoreGetRank(handle)
    SV *handle
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, KV_CLASS, "KVStoreGetRank"));
    int rc, v = 0;
    SHIM_CALL(rc, MXKVStoreGetRank(h_, &v));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

void
KVStoreGetGroupSize(handle)
    SV *handle
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, KV_CLASS, "KVStoreGetGroupSize"));
    int rc, v = 0;
    SHIM_CALL(rc, MXKVStoreGetGroupSize(h_, &v));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

void
KVStoreIsWorkerNode()
  PPCODE:
    int rc, v = 0;
    SHIM_CALL(rc, MXKVStoreIsWorkerNode(&v));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

void
KVStoreIsServerNode()
  PPCODE:
    int rc, v = 0;
    SHIM_CALL(rc, MXKVStoreIsServerNode(&v));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

void
KVStoreIsSchedulerNode()
  PPCODE:
    int rc, v = 0;
    SHIM_CALL(rc, MXKVStoreIsSchedulerNode(&v));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

void
KVStoreBarrier(handle)
    SV *handle
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, KV_CLASS, "KVStoreBarrier"));
    int rc;
    SHIM_CALL(rc, MXKVStoreBarrier(h_));
    PUSH_RC(rc);

void
KVStoreSetBarrierBeforeExit(handle, barrier_before_exit)
    SV *handle
    int barrier_before_exit
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, KV_CLASS, "KVStoreSetBarrierBeforeExit"));
    int rc;
    SHIM_CALL(rc, MXKVStoreSetBarrierBeforeExit(h_, barrier_before_exit));
    PUSH_RC(rc);

void
KVStoreRunServer(handle, controller = &PL_sv_undef)
    SV *handle
    SV *controller
  PPCODE:
    shim_handle *kv = handle_arg(aTHX_ handle, KV_CLASS, "KVStoreRunServer");
    shim_callback *cb = NULL;
    int rc;
    if (SvOK(controller)) {
        if (!is_code(aTHX_ controller))
            croak("KVStoreRunServer: the controller must be a code reference");
        cb = callback_new(aTHX_ controller, NULL);
    }
    SHIM_CALL(rc, MXKVStoreRunServer(HPTR(kv), cb ? controller_trampoline : NULL, cb));
    callback_retire(aTHX_ cb);
    PUSH_RC(rc);

void
KVStoreSendCommmandToServers(handle, cmd_id, cmd_body)
    SV *handle
    int cmd_id
    const char *cmd_body
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, KV_CLASS, "KVStoreSendCommmandToServers"));
    int rc;
    SHIM_CALL(rc, MXKVStoreSendCommmandToServers(h_, cmd_id, cmd_body));
    PUSH_RC(rc);

void
KVStoreGetNumDeadNode(handle, node_id, timeout_sec = 60)
    SV *handle
    int node_id
    int timeout_sec
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, KV_CLASS, "KVStoreGetNumDeadNode"));
    int rc, v = 0;
    SHIM_CALL(rc, MXKVStoreGetNumDeadNode(h_, node_id,
                      &v, timeout_sec));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

 # ---- NDArray --------------------------------------------------------------------------------

void
NDArrayCreateNone()
  PPCODE:
    NDArrayHandle out = NULL;
    int rc;
    SHIM_CALL(rc, MXNDArrayCreateNone(&out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

void
NDArrayCreate(shape, ndim, dev_type, dev_id, delay_alloc)
    SV *shape
    U32 ndim
    int dev_type
    int dev_id
    int delay_alloc
  PPCODE:
    const uint32_t *s = uint_list(aTHX_ shape, ndim, "NDArrayCreate", "shape");
    NDArrayHandle out = NULL;
    int rc;
    SHIM_CALL(rc, MXNDArrayCreate(s, ndim, dev_type, dev_id, delay_alloc, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

void
NDArrayCreateEx(shape, ndim, dev_type, dev_id, delay_alloc, dtype)
    SV *shape
    U32 ndim
    int dev_type
    int dev_id
    int delay_alloc
    int dtype
  PPCODE:
    const uint32_t *s = uint_list(aTHX_ shape, ndim, "NDArrayCreateEx", "shape");
    NDArrayHandle out = NULL;
    int rc;
    SHIM_CALL(rc, MXNDArrayCreateEx(s, ndim, dev_type, dev_id, delay_alloc, dtype, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

void
NDArrayCreateEx64(shape, ndim, dev_type, dev_id, delay_alloc, dtype)
    SV *shape
    int ndim
    int dev_type
    int dev_id
    int delay_alloc
    int dtype
  PPCODE:
    const int64_t *s = i64_list(aTHX_ shape, ndim < 0 ? 0 : (U32)ndim, "NDArrayCreateEx64", "shape");
    NDArrayHandle out = NULL;
    int rc;
    SHIM_CALL(rc, MXNDArrayCreateEx64(s, ndim, dev_type, dev_id, delay_alloc, dtype, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

#ifdef HAVE_MXNDArrayCreateSparseEx

void
NDArrayCreateSparseEx(storage_type, shape, ndim, dev_type, dev_id, delay_alloc, dtype, num_aux, aux_type, aux_ndims, aux_shape)
    int storage_type
    SV *shape
    U32 ndim
    int dev_type
    int dev_id
    int delay_alloc
    int dtype
    U32 num_aux
    SV *aux_type
    SV *aux_ndims
    SV *aux_shape
  PPCODE:
    const char *f = "NDArrayCreateSparseEx";
    const uint32_t *s = uint_list(aTHX_ shape, ndim, f, "shape");
    const int *at = int_list(aTHX_ aux_type, num_aux, f, "aux_type");
    const uint32_t *an = uint_list(aTHX_ aux_ndims, num_aux, f, "aux_ndims");
    U32 total = 0, i;
    const uint32_t *as;
    NDArrayHandle out = NULL;
    int rc;
    for (i = 0; i < num_aux; i++)
        total += an[i];
    as = uint_list(aTHX_ aux_shape, total, f, "aux_shape");
    SHIM_CALL(rc, MXNDArrayCreateSparseEx(storage_type, s, ndim, dev_type, dev_id, delay_alloc,
                                          dtype, num_aux, (int *)at, (uint32_t *)an, as, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

#endif

void
NDArraySyncCopyFromCPU(handle, data, size)
    SV *handle
    SV *data
    size_t size
  PPCODE:
    NDArrayHandle h = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArraySyncCopyFromCPU"));
    STRLEN len;
    const char *bytes = SvPV(data, len);
    size_t es = 0;
    int rc;
    SHIM_CALL(rc, elem_size(h, &es));
    if (rc == 0) {
        if (size && (es == 0 || len / es < size))
            croak("NDArraySyncCopyFromCPU: %lu elements of %lu bytes requested but the buffer holds "
                  "%lu bytes", (unsigned long)size, (unsigned long)es, (unsigned long)len);
        SHIM_CALL(rc, MXNDArraySyncCopyFromCPU(h, bytes, size));
    }
    PUSH_RC(rc);

void
NDArraySyncCopyToCPU(handle, data, size)
    SV *handle
    SV *data
    size_t size
  PPCODE:
    NDArrayHandle h = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArraySyncCopyToCPU"));
    size_t es = 0;
    int rc;
    SHIM_CALL(rc, elem_size(h, &es));
    if (rc == 0) {
        char *buf;
        if (size && es == 0)
            croak("NDArraySyncCopyToCPU: the array's dtype has no element size");
        if (SvREADONLY(data))
            croak("NDArraySyncCopyToCPU: the output buffer is read-only");
        if (SvTYPE(data) < SVt_PV)
            sv_upgrade(data, SVt_PV);
        if (!SvPOK(data))
            sv_setpvs(data, "");
        /* A large enough buffer is written in place (PDL's data scalar must not move). */
        buf = SvLEN(data) > size * es ? SvPVX(data) : SvGROW(data, size * es + 1);
        SHIM_CALL(rc, MXNDArraySyncCopyToCPU(h, buf, size));
        if (rc == 0) {
            SvCUR_set(data, size * es);
            buf[size * es] = '\0';
        }
        SvPOK_only(data);
        SvSETMAGIC(data);
    }
    PUSH_RC(rc);

void
NDArraySyncCopyFromNDArray(handle_dst, handle_src, i)
    SV *handle_dst
    SV *handle_src
    int i
  PPCODE:
    const char *f = "NDArraySyncCopyFromNDArray";
    void *dst = HPTR(handle_arg(aTHX_ handle_dst, ND_CLASS, f));
    void *src = HPTR(handle_arg(aTHX_ handle_src, ND_CLASS, f));
    int rc;
    SHIM_CALL(rc, MXNDArraySyncCopyFromNDArray(dst, src, i));
    PUSH_RC(rc);

void
NDArrayWaitToRead(handle)
    SV *handle
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayWaitToRead"));
    int rc;
    SHIM_CALL(rc, MXNDArrayWaitToRead(h_));
    PUSH_RC(rc);

void
NDArrayWaitToWrite(handle)
    SV *handle
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayWaitToWrite"));
    int rc;
    SHIM_CALL(rc, MXNDArrayWaitToWrite(h_));
    PUSH_RC(rc);

void
NDArrayWaitAll()
  PPCODE:
    int rc;
    SHIM_CALL(rc, MXNDArrayWaitAll());
    PUSH_RC(rc);

void
NDArrayFree(handle)
    SV *handle
  PPCODE:
    shim_handle *h = handle_arg(aTHX_ handle, ND_CLASS, "NDArrayFree");
    int rc;
    SHIM_CALL(rc, MXNDArrayFree(HPTR(h)));
    if (rc == 0 && h)
        h->owned = 0;
    PUSH_RC(rc);

void
NDArrayGetShape(handle)
    SV *handle
  PPCODE:
    uint32_t ndim = 0;
    const uint32_t *dims = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayGetShape"));
    int rc;
    SHIM_CALL(rc, MXNDArrayGetShape(h_, &ndim, &dims));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(shape_ref(aTHX_ (int)ndim, NULL, NULL, dims));

void
NDArrayGetShapeEx(handle)
    SV *handle
  PPCODE:
    int ndim = 0;
    const int *dims = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayGetShapeEx"));
    int rc;
    SHIM_CALL(rc, MXNDArrayGetShapeEx(h_, &ndim, &dims));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(shape_ref(aTHX_ ndim, NULL, dims, NULL));

void
NDArrayGetShapeEx64(handle)
    SV *handle
  PPCODE:
    int ndim = 0;
    const int64_t *dims = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayGetShapeEx64"));
    int rc;
    SHIM_CALL(rc, MXNDArrayGetShapeEx64(h_, &ndim,
                      &dims));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(shape_ref(aTHX_ ndim, dims, NULL, NULL));

void
NDArrayGetDType(handle)
    SV *handle
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayGetDType"));
    int rc, v = 0;
    SHIM_CALL(rc, MXNDArrayGetDType(h_, &v));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

void
NDArrayGetContext(handle)
    SV *handle
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayGetContext"));
    int rc, dev_type = 0, dev_id = 0;
    SHIM_CALL(rc, MXNDArrayGetContext(h_, &dev_type,
                      &dev_id));
    PUSH_RC(rc);
    if (rc == 0) {
        mXPUSHi(dev_type);
        mXPUSHi(dev_id);
    }

void
NDArrayGetStorageType(handle)
    SV *handle
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayGetStorageType"));
    int rc, v = 0;
    SHIM_CALL(rc, MXNDArrayGetStorageType(h_, &v));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

void
NDArrayGetData(handle, nbytes)
    SV *handle
    size_t nbytes
  PPCODE:
    NDArrayHandle h = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayGetData"));
    void *data = NULL;
    int ndim = 0, rc, i;
    const int64_t *dims = NULL;
    size_t es = 0, n = 0;
    SHIM_CALL(rc, MXNDArrayGetShapeEx64(h, &ndim, &dims));
    if (rc == 0) {
        n = ndim > 0 ? 1 : 0;
        for (i = 0; i < ndim; i++)
            n *= (size_t)dims[i];
        SHIM_CALL(rc, elem_size(h, &es));
    }
    if (rc == 0)
        SHIM_CALL(rc, MXNDArrayWaitToRead(h));
    if (rc == 0)
        SHIM_CALL(rc, MXNDArrayGetData(h, &data));
    if (rc == 0 && nbytes > n * es)
        croak("NDArrayGetData: %lu bytes requested but the array holds %lu", (unsigned long)nbytes,
              (unsigned long)(n * es));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHp(data ? (const char *)data : "", data ? nbytes : 0);

void
NDArrayReshape(handle, ndim, dims)
    SV *handle
    int ndim
    SV *dims
  PPCODE:
    const char *f = "NDArrayReshape";
    NDArrayHandle h = HPTR(handle_arg(aTHX_ handle, ND_CLASS, f));
    const int *d = int_list(aTHX_ dims, ndim < 0 ? 0 : (U32)ndim, f, "dims");
    NDArrayHandle out = NULL;
    int rc;
    SHIM_CALL(rc, MXNDArrayReshape(h, ndim, (int *)d, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

void
NDArrayReshape64(handle, ndim, dims, reverse = 0)
    SV *handle
    int ndim
    SV *dims
    int reverse
  PPCODE:
    const char *f = "NDArrayReshape64";
    NDArrayHandle h = HPTR(handle_arg(aTHX_ handle, ND_CLASS, f));
    const int64_t *d = i64_list(aTHX_ dims, ndim < 0 ? 0 : (U32)ndim, f, "dims");
    NDArrayHandle out = NULL;
    int rc;
    SHIM_CALL(rc, MXNDArrayReshape64(h, ndim, (dim_t *)d, reverse != 0, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

void
NDArraySlice(handle, slice_begin, slice_end)
    SV *handle
    U32 slice_begin
    U32 slice_end
  PPCODE:
    NDArrayHandle out = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArraySlice"));
    int rc;
    SHIM_CALL(rc, MXNDArraySlice(h_, slice_begin, slice_end, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

void
NDArraySlice64(handle, slice_begin, slice_end)
    SV *handle
    IV slice_begin
    IV slice_end
  PPCODE:
    NDArrayHandle out = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArraySlice64"));
    int rc;
    SHIM_CALL(rc, MXNDArraySlice64(h_, (int64_t)slice_begin, (int64_t)slice_end, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

void
NDArrayAt(handle, idx)
    SV *handle
    U32 idx
  PPCODE:
    NDArrayHandle out = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayAt"));
    int rc;
    SHIM_CALL(rc, MXNDArrayAt(h_, idx, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

void
NDArrayAt64(handle, idx)
    SV *handle
    IV idx
  PPCODE:
    NDArrayHandle out = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayAt64"));
    int rc;
    SHIM_CALL(rc, MXNDArrayAt64(h_, (int64_t)idx, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

void
NDArraySave(fname, num, handles, keys = &PL_sv_undef)
    const char *fname
    U32 num
    SV *handles
    SV *keys
  PPCODE:
    NDArrayHandle *h = nd_list(aTHX_ handles, num, "NDArraySave", "handles");
    const char **k = SvOK(keys) ? str_list(aTHX_ keys, num, "NDArraySave", "keys") : NULL;
    int rc;
    SHIM_CALL(rc, MXNDArraySave(fname, num, h, k));
    PUSH_RC(rc);

void
NDArrayLoad(fname)
    const char *fname
  PPCODE:
    uint32_t n = 0, n_names = 0, i;
    NDArrayHandle *arr = NULL;
    const char **names = NULL;
    int rc;
    SHIM_CALL(rc, MXNDArrayLoad(fname, &n, &arr, &n_names, &names));
    PUSH_RC(rc);
    if (rc == 0) {
        AV *handles = newAV(), *keys = newAV();
        for (i = 0; i < n; i++)
            av_push(handles, handle_new(aTHX_ ND_CLASS, arr[i], 1));
        for (i = 0; i < n_names; i++)
            av_push(keys, newSVpv(names[i], 0));
        XPUSHs(sv_2mortal(newRV_noinc((SV *)handles)));
        XPUSHs(sv_2mortal(newRV_noinc((SV *)keys)));
    }

void
NDArraySaveRawBytes(handle)
    SV *handle
  PPCODE:
    size_t size = 0;
    const char *buf = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArraySaveRawBytes"));
    int rc;
    SHIM_CALL(rc, MXNDArraySaveRawBytes(h_, &size, &buf));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHp(buf ? buf : "", buf ? size : 0);

void
NDArrayLoadFromRawBytes(buf, size)
    SV *buf
    size_t size
  PPCODE:
    STRLEN len;
    const char *bytes = SvPV(buf, len);
    NDArrayHandle out = NULL;
    int rc;
    if (size > len)
        croak("NDArrayLoadFromRawBytes: size %lu but the buffer holds %lu bytes",
              (unsigned long)size, (unsigned long)len);
    SHIM_CALL(rc, MXNDArrayLoadFromRawBytes(bytes, size, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

#ifdef HAVE_MXNDArrayGetAuxType

void
NDArrayGetAuxType(handle, i)
    SV *handle
    U32 i
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayGetAuxType"));
    int rc, v = 0;
    SHIM_CALL(rc, MXNDArrayGetAuxType(h_, i, &v));
    PUSH_RC(rc);
    if (rc == 0) mXPUSHi(v);

#endif

#ifdef HAVE_MXNDArrayGetAuxNDArray

void
NDArrayGetAuxNDArray(handle, i)
    SV *handle
    U32 i
  PPCODE:
    NDArrayHandle out = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayGetAuxNDArray"));
    int rc;
    SHIM_CALL(rc, MXNDArrayGetAuxNDArray(h_, i, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

#endif

#ifdef HAVE_MXNDArrayGetDataNDArray

void
NDArrayGetDataNDArray(handle)
    SV *handle
  PPCODE:
    NDArrayHandle out = NULL;
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArrayGetDataNDArray"));
    int rc;
    SHIM_CALL(rc, MXNDArrayGetDataNDArray(h_, &out));
    PUSH_RC(rc);
    if (rc == 0) XPUSHs(sv_2mortal(handle_new(aTHX_ ND_CLASS, out, 1)));

#endif

#ifdef HAVE_MXNDArraySyncCheckFormat

void
NDArraySyncCheckFormat(handle, full_check)
    SV *handle
    int full_check
  PPCODE:
    void *h_ = HPTR(handle_arg(aTHX_ handle, ND_CLASS, "NDArraySyncCheckFormat"));
    int rc;
    SHIM_CALL(rc, MXNDArraySyncCheckFormat(h_, full_check != 0));
    PUSH_RC(rc);

#endif

 # ---- helpers of MXNet's binding, and two for tests --------------------------------------------

double
_half_to_float(h)
    UV h
  CODE:
    RETVAL = kernel_half_to_float((uint16_t)h);
  OUTPUT:
    RETVAL

UV
_float_to_half(f)
    NV f
  CODE:
    RETVAL = kernel_float_to_half((float)f);
  OUTPUT:
    RETVAL

SV *
_borrow(handle)
    SV *handle
  CODE:
    shim_handle *h = handle_arg(aTHX_ handle, ND_CLASS, "_borrow");
    RETVAL = handle_new(aTHX_ ND_CLASS, HPTR(h), 0);
  OUTPUT:
    RETVAL

UV
_address(handle)
    SV *handle
  CODE:
    shim_handle *h;
    if (!SvROK(handle) || !(sv_derived_from(handle, ND_CLASS) || sv_derived_from(handle, KV_CLASS)))
        croak("_address: expected a handle");
    h = INT2PTR(shim_handle *, SvIV(SvRV(handle)));
    RETVAL = PTR2UV(h->ptr);
  OUTPUT:
    RETVAL

MODULE = AI::MXNetCAPI  PACKAGE = NDArrayHandle

void
DESTROY(self)
    SV *self
  CODE:
    shim_handle *h = INT2PTR(shim_handle *, SvIV(SvRV(self)));
    if (h->owned && h->ptr && MXNDArrayFree(h->ptr) != 0)
        warn("NDArrayHandle::DESTROY: %s", MXGetLastError());
    Safefree(h);

int
CLONE_SKIP(...)
  CODE:
    RETVAL = 1;
  OUTPUT:
    RETVAL

MODULE = AI::MXNetCAPI  PACKAGE = KVStoreHandle

void
DESTROY(self)
    SV *self
  CODE:
    shim_handle *h = INT2PTR(shim_handle *, SvIV(SvRV(self)));
    if (h->owned && h->ptr && MXKVStoreFree(h->ptr) != 0)
        warn("KVStoreHandle::DESTROY: %s", MXGetLastError());
    callback_retire(aTHX_ h->updater);
    Safefree(h);

int
CLONE_SKIP(...)
  CODE:
    RETVAL = 1;
  OUTPUT:
    RETVAL

 # ---- element-wise kernels of AI::MXNet::NDArray ----------------------------------------------

MODULE = AI::MXNetCAPI  PACKAGE = AI::MXNet::NDArray::Kernel

# 1 when done; 0 when a and b differ in shape (the caller broadcasts); -1 when their dtypes differ.
int
binary(op, out, a, b)
    const char *op
    SV *out
    SV *a
    SV *b
  CODE:
    const char *f = "AI::MXNet::NDArray::Kernel::binary";
    array_view vo, va, vb;
    int k = kernel_op_arg(aTHX_ op, f);
    array_get(aTHX_ a, f, 0, &va);
    array_get(aTHX_ b, f, 0, &vb);
    if (!same_shape(&va, &vb))
        XSRETURN_IV(0);
    if (va.dtype != vb.dtype)
        XSRETURN_IV(-1);
    array_get(aTHX_ out, f, 1, &vo);
    if (!same_shape(&vo, &va) || vo.dtype != va.dtype)
        croak("%s: the output differs in shape or dtype from the operands", f);
    kernel_binary(k, vo.dtype, vo.data, va.data, vb.data, vo.n);
    RETVAL = 1;
  OUTPUT:
    RETVAL

void
scalar(op, out, a, s)
    const char *op
    SV *out
    SV *a
    NV s
  CODE:
    const char *f = "AI::MXNet::NDArray::Kernel::scalar";
    array_view vo, va;
    int k = kernel_op_arg(aTHX_ op, f);
    array_get(aTHX_ a, f, 0, &va);
    array_get(aTHX_ out, f, 1, &vo);
    same_size(aTHX_ f, &vo, &va);
    if (vo.dtype != va.dtype)
        croak("%s: dtypes differ (%d, %d)", f, vo.dtype, va.dtype);
    kernel_scalar(k, vo.dtype, vo.data, va.data, (double)s, vo.n);

void
fill(out, v)
    SV *out
    NV v
  CODE:
    array_view vo;
    array_get(aTHX_ out, "AI::MXNet::NDArray::Kernel::fill", 1, &vo);
    kernel_fill(vo.dtype, vo.data, (double)v, vo.n);

void
cast(dst, src)
    SV *dst
    SV *src
  CODE:
    const char *f = "AI::MXNet::NDArray::Kernel::cast";
    array_view vd, vs;
    array_get(aTHX_ src, f, 0, &vs);
    array_get(aTHX_ dst, f, 1, &vd);
    same_size(aTHX_ f, &vd, &vs);
    kernel_cast(vd.dtype, vd.data, vs.dtype, vs.data, vd.n);

void
read(src, dtype, buf)
    SV *src
    int dtype
    SV *buf
  CODE:
    const char *f = "AI::MXNet::NDArray::Kernel::read";
    array_view vs;
    size_t es = kernel_dtype_size(dtype);
    char *p;
    if (!es)
        croak("%s: unknown dtype %d", f, dtype);
    array_get(aTHX_ src, f, 0, &vs);
    if (SvREADONLY(buf))
        croak("%s: the output buffer is read-only", f);
    if (SvTYPE(buf) < SVt_PV)
        sv_upgrade(buf, SVt_PV);
    if (!SvPOK(buf))
        sv_setpvs(buf, "");
    p = SvLEN(buf) > vs.n * es ? SvPVX(buf) : SvGROW(buf, vs.n * es + 1);
    kernel_cast(dtype, p, vs.dtype, vs.data, vs.n);
    SvCUR_set(buf, vs.n * es);
    p[vs.n * es] = '\0';
    SvPOK_only(buf);
    SvSETMAGIC(buf);

void
write(dst, dtype, buf)
    SV *dst
    int dtype
    SV *buf
  CODE:
    const char *f = "AI::MXNet::NDArray::Kernel::write";
    array_view vd;
    size_t es = kernel_dtype_size(dtype);
    STRLEN len;
    const char *p = SvPV(buf, len);
    if (!es)
        croak("%s: unknown dtype %d", f, dtype);
    array_get(aTHX_ dst, f, 1, &vd);
    if (len / es < vd.n)
        croak("%s: the array has %lu elements but the buffer holds %lu bytes", f,
              (unsigned long)vd.n, (unsigned long)len);
    kernel_cast(vd.dtype, vd.data, dtype, p, vd.n);

SV *
empty_like(src)
    SV *src
  CODE:
    NDArrayHandle h = HPTR(handle_arg(aTHX_ src, ND_CLASS, "AI::MXNet::NDArray::Kernel::empty_like"));
    NDArrayHandle out = NULL;
    int ndim, dtype, dev_type, dev_id;
    const int64_t *dims;
    int64_t shape[MAX_DIMS];
    int i;
    if (MXNDArrayGetShapeEx64(h, &ndim, &dims) != 0)
        croak_library(aTHX);
    if (ndim > MAX_DIMS)
        croak("empty_like: %d dimensions", ndim);
    for (i = 0; i < ndim; i++)
        shape[i] = dims[i];
    if (MXNDArrayGetDType(h, &dtype) != 0 || MXNDArrayGetContext(h, &dev_type, &dev_id) != 0 ||
        MXNDArrayCreateEx64(shape, ndim, dev_type, dev_id, 0, dtype, &out) != 0)
        croak_library(aTHX);
    RETVAL = handle_new(aTHX_ ND_CLASS, out, 1);
  OUTPUT:
    RETVAL
