/* Prints the CPython struct offsets Flamecam's Python reader needs, computed
 * by the compiler from the interpreter's own installed headers. The test
 * suite compiles this against each pyenv version and compares the output to
 * the tables in runtimes/python/offsets.py, so a table can never silently
 * drift from the binary it describes. */
#define Py_BUILD_CORE 1
#include <stddef.h>
#include <stdio.h>
#include "Python.h"
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_dict.h"
#include "internal/pycore_gil.h"
#include "internal/pycore_moduleobject.h"

#define P(name, expr) printf("%s %ld\n", name, (long)(expr))

int main(void) {
    P("runtime.interpreters_head", offsetof(_PyRuntimeState, interpreters.head));
#if PY_MINOR_VERSION == 11
    P("runtime.gil", offsetof(_PyRuntimeState, ceval.gil));
    P("interp.modules", offsetof(PyInterpreterState, modules));
    P("interp.ceval_gil", -1);
#else
    P("runtime.gil", -1);
    P("interp.modules", offsetof(PyInterpreterState, imports.modules));
    P("interp.ceval_gil", offsetof(PyInterpreterState, ceval.gil));
#endif
    P("interp.next", offsetof(PyInterpreterState, next));
    P("interp.threads_head", offsetof(PyInterpreterState, threads.head));
    P("tstate.next", offsetof(PyThreadState, next));
    P("tstate.interp", offsetof(PyThreadState, interp));
    P("tstate.thread_id", offsetof(PyThreadState, thread_id));
    P("tstate.native_thread_id", offsetof(PyThreadState, native_thread_id));
#if PY_MINOR_VERSION >= 13
    P("tstate.cframe", -1);
    P("tstate.current_frame", offsetof(PyThreadState, current_frame));
    P("cframe.current_frame", -1);
    P("frame.code", offsetof(_PyInterpreterFrame, f_executable));
    P("frame.instr", offsetof(_PyInterpreterFrame, instr_ptr));
    P("frame.is_entry", -1);
#else
    P("tstate.cframe", offsetof(PyThreadState, cframe));
    P("tstate.current_frame", -1);
    P("cframe.current_frame", offsetof(_PyCFrame, current_frame));
    P("frame.code", offsetof(_PyInterpreterFrame, f_code));
    P("frame.instr", offsetof(_PyInterpreterFrame, prev_instr));
#if PY_MINOR_VERSION == 11
    P("frame.is_entry", offsetof(_PyInterpreterFrame, is_entry));
#else
    P("frame.is_entry", -1);
#endif
#endif
    P("frame.previous", offsetof(_PyInterpreterFrame, previous));
    P("frame.owner", offsetof(_PyInterpreterFrame, owner));
    P("code.filename", offsetof(PyCodeObject, co_filename));
    P("code.name", offsetof(PyCodeObject, co_name));
    P("code.qualname", offsetof(PyCodeObject, co_qualname));
    P("code.linetable", offsetof(PyCodeObject, co_linetable));
    P("code.firstlineno", offsetof(PyCodeObject, co_firstlineno));
    P("code.code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
    P("unicode.state", offsetof(PyASCIIObject, state));
    P("unicode.length", offsetof(PyASCIIObject, length));
    P("unicode.ascii_size", sizeof(PyASCIIObject));
    P("unicode.compact_size", sizeof(PyCompactUnicodeObject));
    P("bytes.size", offsetof(PyVarObject, ob_size));
    P("bytes.sval", offsetof(PyBytesObject, ob_sval));
    P("type.basicsize", offsetof(PyTypeObject, tp_basicsize));
    P("type.flags", offsetof(PyTypeObject, tp_flags));
    P("heaptype.cached_keys", offsetof(PyHeapTypeObject, ht_cached_keys));
    P("module.dict", offsetof(PyModuleObject, md_dict));
    P("dict.keys", offsetof(PyDictObject, ma_keys));
    P("dict.values", offsetof(PyDictObject, ma_values));
    P("dictvalues.values", offsetof(PyDictValues, values));
#if PY_MINOR_VERSION == 11
    P("long.tag", offsetof(PyVarObject, ob_size));
    P("long.digits", offsetof(PyLongObject, ob_digit));
#else
    P("long.tag", offsetof(PyLongObject, long_value.lv_tag));
    P("long.digits", offsetof(PyLongObject, long_value.ob_digit));
#endif
    P("gil.locked", offsetof(struct _gil_runtime_state, locked));
    P("gil.last_holder", offsetof(struct _gil_runtime_state, last_holder));
    P("gil.size", sizeof(struct _gil_runtime_state));
    return 0;
}
