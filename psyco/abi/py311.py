"""Everything psyco knows about CPython 3.11's binary interface.

Struct layouts, C-API signatures, reference-counting conventions and the
shape of the trampoline bytecode live here and nowhere else.  A port to
another CPython version is a sibling of this module.
"""

from __future__ import annotations

import ctypes
import functools
import opcode
import sys
import types

from psyco.frontend.py311 import Handler, argument_count, encode_exception_table, parse_exception_table
from psyco.own_builtins import BUILTINS

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

VERSION = (3, 11)

# --- object layouts (x86-64 and aarch64 share them: LP64) -----------------
POINTER_SIZE = 8
OB_REFCNT = 0
OB_TYPE = 8
OB_SIZE = 16  # PyVarObject.ob_size
LONG_DIGITS = 24  # PyLongObject.ob_digit[], 30-bit digits in uint32
LONG_DIGIT_BITS = 30
LONG_DIGIT_SIZE = 4  # bytes per digit (uint32)
FLOAT_FVAL = 16  # PyFloatObject.ob_fval
# The preallocated ints -5..256 (_PyLong_SMALL_INTS, in the runtime state),
# each SMALL_INT_SIZE bytes after the previous: PyLong_FromLongLong returns
# these, so boxing may too, without calling it.
SMALL_INT_MIN, SMALL_INT_MAX = -5, 256
SMALL_INT_SIZE = 32
SMALL_INTS = id(SMALL_INT_MIN)
DICT_VERSION_TAG = 24  # PyDictObject.ma_version_tag (uint64)
DICT_USED = 16  # PyDictObject.ma_used: the number of items
TUPLE_ITEMS = 24  # PyTupleObject.ob_item[]
LIST_ITEMS = 24  # PyListObject.ob_item (PyObject **)
BYTES_DATA = 32  # PyBytesObject.ob_sval[]
TB_NEXT = 16  # PyTracebackObject.tb_next
CELL_REF = 16  # PyCellObject.ob_ref: the content, NULL when empty
UNICODE_LENGTH = 16  # PyASCIIObject.length (code points)
UNICODE_STATE = 32  # PyASCIIObject.state bit field
UNICODE_COMPACT_ASCII = (1 << 5) | (1 << 6)  # state bits: compact and ASCII (then kind is 1 byte)
UNICODE_ASCII_DATA = 48  # a compact ASCII string's characters follow its PyASCIIObject
UNICODE_KIND_SHIFT, UNICODE_KIND_MASK = 2, 7  # state bits: bytes per character (1, 2 or 4)
UNICODE_COMPACT, UNICODE_ASCII, UNICODE_READY = 1 << 5, 1 << 6, 1 << 7  # state bits
# Other compact strings' characters follow their PyCompactUnicodeObject; a
# legacy (not compact) string points to its characters from the same offset.
UNICODE_COMPACT_DATA = UNICODE_DATA_POINTER = 72
TB_FRAME = 24  # PyTracebackObject.tb_frame
TB_LASTI = 32  # PyTracebackObject.tb_lasti (int, bytes offset)
# PY_VECTORCALL_ARGUMENTS_OFFSET, as a signed 64-bit word: the callee may
# use args[-1] (a call after a method lookup passes the owner's slot)
VECTORCALL_ARGUMENTS_OFFSET = -(1 << 63)

# PyThreadState
TSTATE_INTERP = 16
TSTATE_RECURSION_REMAINING = 32
TSTATE_RECURSION_LIMIT = 36
TSTATE_CFRAME = 56
TSTATE_EXC_INFO = 120  # _PyErr_StackItem *: its first field is the handled exception
EXC_INFO_VALUE = 0  # _PyErr_StackItem: the exception being handled (or None/NULL)
EXC_INFO_PREVIOUS = 8  # the item below it (generators push their own)
CFRAME_USE_TRACING = 0
CFRAME_CURRENT_FRAME = 8

# PyInterpreterState.ceval
INTERP_RECURSION_LIMIT = 96
INTERP_EVAL_BREAKER = 100  # set when the eval loop must look at signals, GIL requests, ...
INTERP_GIL_DROP_REQUEST = 104

# _PyInterpreterFrame
IFRAME_FUNC = 0
IFRAME_GLOBALS = 8
IFRAME_CODE = 32
IFRAME_FRAME_OBJ = 40  # the PyFrameObject of this frame (NULL until one is made)
IFRAME_PREVIOUS = 48  # the calling frame, while this one runs
IFRAME_PREV_INSTR = 56
IFRAME_STACKTOP = 64
IFRAME_LOCALSPLUS = 72

# PyFrameObject
FRAME_F_BACK = 16  # the caller's frame object, when this frame outlives its run (a strong reference)
FRAME_F_FRAME = 24

# PyCodeObject: the (adaptive) bytecode the interpreter executes.
CODE_FILENAME = 112
CODE_QUALNAME = 128
CODE_ADAPTIVE = 184
CODE_UNIT = 2

# PyTypeObject and PyHeapTypeObject
TYPE_NAME = 24  # const char *
TYPE_FLAGS = 168
TYPE_NEW = 312  # newfunc: (type, args, kwargs) -> object
TYPE_GETATTRO = 144
TYPE_SETATTRO = 152
TYPE_VERSION_TAG = 384  # unsigned int; 0: no valid tag
TYPE_DICTOFFSET = 288  # Py_ssize_t; 0: instances have no __dict__
HEAPTYPE_CACHED_KEYS = 872  # the keys shared by the instances' dicts
TPFLAGS_MANAGED_DICT = 1 << 4
TPFLAGS_METHOD_DESCRIPTOR = 1 << 17  # called with self as first argument, no bound method
HEAPTYPE = 1 << 9
TPFLAGS_SEQUENCE = 1 << 5  # matches sequence patterns
TPFLAGS_MAPPING = 1 << 6  # matches mapping patterns
TPFLAGS_MATCH_SELF = 1 << 22  # `case cls(x)` binds the subject itself (int, str, list, ...)
TPFLAGS_TUPLE_SUBCLASS = 1 << 26
TPFLAGS_BASE_EXC_SUBCLASS = 1 << 30
TPFLAGS_TYPE_SUBCLASS = 1 << 31
TPFLAGS_IMMUTABLETYPE = 1 << 8  # its instances' __class__ cannot be assigned
GETSET_DESCR_DEF = 40  # PyGetSetDescrObject.d_getset: its PyGetSetDef
GETSET_DEF_SET = 16  # PyGetSetDef.set: the setter function

# An instance of a class with a managed dict keeps its attribute values in
# a PyDictValues array (indexed like the class's shared keys) pointed to
# from just before the object; NULL once a real dict was made.  Bytes
# before the array: [-1] its prefix size, [-2] how many values are set,
# [-3 - i] the key index set i-th (insertion order).
OBJECT_VALUES = -32
OBJECT_MANAGED_DICT = -24  # the instance's dict once made, or NULL
VALUES_COUNT = -2

# PyDictKeysObject
DICTKEYS_LOG2_INDEX_BYTES = 9  # uint8
DICTKEYS_NENTRIES = 24
DICTKEYS_INDICES = 32  # then the entries, {key, value} for str-only keys
DICTKEYS_ENTRY_SIZE = 16

# __slots__: a member descriptor points at its PyMemberDef.
MEMBER_DESCR_MEMBER = 40  # PyMemberDescrObject.d_member
MEMBERDEF_TYPE = 8  # PyMemberDef.type (int)
MEMBERDEF_OFFSET = 16  # PyMemberDef.offset (Py_ssize_t): where the instance keeps the value
MEMBERDEF_FLAGS = 24  # PyMemberDef.flags (int)
T_OBJECT_EX = 16  # the member type of a __slots__ entry: NULL when unset (AttributeError)
MEMBER_READONLY = 1

# Where len() of an exact builtin container is kept (a Py_ssize_t).  Not
# str: a string made by the legacy C API has its length only once "ready".
LEN_FIELD = {list: OB_SIZE, tuple: OB_SIZE, bytes: OB_SIZE, dict: DICT_USED}

# PyMethodDef and the calling convention of the dispatcher builtin.
METH_FASTCALL = 0x0080


class _LayoutProbe(Exception):
    pass


def _check_layout() -> bool:
    """Cross-check the hard-coded offsets against live objects."""

    def probe(a, b):
        return a + b

    code = probe.__code__
    bytecode = ctypes.string_at(id(code) + CODE_ADAPTIVE, len(code.co_code))
    fval = ctypes.c_double.from_address(id(1.5) + FLOAT_FVAL).value
    digit = ctypes.c_uint32.from_address(id(12345) + LONG_DIGITS).value
    tup = (probe,)
    item = ctypes.c_void_p.from_address(id(tup) + TUPLE_ITEMS).value
    data = ctypes.string_at(id(b"psyco") + BYTES_DATA, 5)
    get_tstate = ctypes.pythonapi.PyThreadState_Get
    get_tstate.restype = ctypes.c_void_p
    interp = ctypes.c_void_p.from_address(get_tstate() + TSTATE_INTERP).value
    limit = ctypes.c_int.from_address(interp + INTERP_RECURSION_LIMIT).value  # type: ignore[operator]
    if limit != sys.getrecursionlimit():
        return False
    try:
        raise _LayoutProbe
    except _LayoutProbe as handled:
        exc_info = ctypes.c_void_p.from_address(get_tstate() + TSTATE_EXC_INFO).value
        if ctypes.c_void_p.from_address(exc_info).value != id(handled):  # type: ignore[arg-type]
            return False
    samples = {list: [1, 2], tuple: (1, 2, 3), bytes: b"four", dict: {1: 2}}
    lengths = all(ctypes.c_ssize_t.from_address(id(v) + LEN_FIELD[t]).value == len(v) for t, v in samples.items())
    names = [ctypes.c_void_p.from_address(id(code) + offset).value for offset in (CODE_FILENAME, CODE_QUALNAME)]
    taken = (lambda: sys._getframe())()  # its frame object outlives it: f_back is the caller's
    if ctypes.c_void_p.from_address(id(taken) + FRAME_F_BACK).value != id(taken.f_back):
        return False
    return (bytecode == code.co_code and fval == 1.5 and digit == 12345 and item == id(probe) and data == b"psyco"
            and lengths and names == [id(code.co_filename), id(code.co_qualname)])


def layout_matches() -> bool:
    return sys.implementation.name == "cpython" and sys.version_info[:2] == VERSION and _check_layout()


# --- C-API functions the generated code calls ------------------------------
# Types: obj = PyObject*, ptr = other pointer, i64/i32/i8/f64, void.
# Each entry: name -> (return type, argument types).
C_API: dict[str, tuple[str, tuple[str, ...]]] = {
    "Py_IncRef": ("void", ("obj",)),
    "_Py_Dealloc": ("void", ("obj",)),
    "Py_DecRef": ("void", ("obj",)),
    "PyLong_FromLongLong": ("obj", ("i64",)),
    "PyLong_FromVoidPtr": ("obj", ("ptr",)),
    "PyLong_AsLongLongAndOverflow": ("i64", ("obj", "ptr")),
    "PyLong_AsDouble": ("f64", ("obj",)),
    "PyFloat_FromDouble": ("obj", ("f64",)),
    "PyObject_IsTrue": ("i32", ("obj",)),
    "PyObject_RichCompare": ("obj", ("obj", "obj", "i32")),
    "PyObject_Vectorcall": ("obj", ("obj", "ptr", "i64", "obj")),
    "_PyObject_GetMethod": ("i32", ("obj", "obj", "ptr")),
    "PyObject_GetAttr": ("obj", ("obj", "obj")),
    "PyObject_GetIter": ("obj", ("obj",)),
    "PyIter_Next": ("obj", ("obj",)),
    "PyObject_GetItem": ("obj", ("obj", "obj")),
    "PyObject_SetItem": ("i32", ("obj", "obj", "obj")),
    "PyObject_DelItem": ("i32", ("obj", "obj")),
    "PyObject_SetAttr": ("i32", ("obj", "obj", "obj")),
    "PyObject_Size": ("i64", ("obj",)),
    "PyObject_Str": ("obj", ("obj",)),
    "PyObject_Repr": ("obj", ("obj",)),
    "PyObject_ASCII": ("obj", ("obj",)),
    "PyObject_Format": ("obj", ("obj", "obj")),
    "PyUnicode_Join": ("obj", ("obj", "obj")),
    "PyUnicode_Compare": ("i32", ("obj", "obj")),
    "PyObject_GenericGetAttr": ("obj", ("obj", "obj")),
    "PyObject_GenericSetAttr": ("i32", ("obj", "obj", "obj")),
    "_PyType_Lookup": ("obj", ("obj", "obj")),  # borrowed
    "PyList_New": ("obj", ("i64",)),
    "PyList_Append": ("i32", ("obj", "obj")),
    "PyList_AsTuple": ("obj", ("obj",)),
    "_PyList_Extend": ("obj", ("obj", "obj")),
    "PySet_New": ("obj", ("obj",)),
    "PySet_Add": ("i32", ("obj", "obj")),
    "_PySet_Update": ("i32", ("obj", "obj")),
    "PyDict_New": ("obj", ()),
    "PyFunction_New": ("obj", ("obj", "obj")),
    "PyFunction_SetDefaults": ("i32", ("obj", "obj")),
    "PyFunction_SetKwDefaults": ("i32", ("obj", "obj")),
    "PySlice_New": ("obj", ("obj", "obj", "obj")),
    "PyNumber_Long": ("obj", ("obj",)),
    "PyNumber_Float": ("obj", ("obj",)),
    "PyUnicode_Substring": ("obj", ("obj", "i64", "i64")),
    "PyErr_Clear": ("void", ()),
    "_PyUnicode_Ready": ("i32", ("obj",)),  # a legacy string's characters in the PEP 393 form
    "_PyUnicode_IsWhitespace": ("i32", ("i32",)),  # Py_UNICODE_ISSPACE past ASCII
    "PyList_GetSlice": ("obj", ("obj", "i64", "i64")),
    "PyTuple_GetSlice": ("obj", ("obj", "i64", "i64")),
    "PySequence_Contains": ("i32", ("obj", "obj")),
    "PyNumber_Negative": ("obj", ("obj",)),
    "PyNumber_Positive": ("obj", ("obj",)),
    "PyNumber_Invert": ("obj", ("obj",)),
    "PyNumber_Power": ("obj", ("obj", "obj", "obj")),
    "PyNumber_InPlacePower": ("obj", ("obj", "obj", "obj")),
    "PyTuple_New": ("obj", ("i64",)),
    "PyDict_GetItemWithError": ("obj", ("obj", "obj")),
    "PyDict_SetItem": ("i32", ("obj", "obj", "obj")),
    "PyErr_SetString": ("void", ("obj", "ptr")),
    "PyType_Modified": ("void", ("obj",)),
    "PyErr_Format": ("obj", ("obj", "ptr", "obj")),
    "PyErr_SetObject": ("void", ("obj", "obj")),
    "PyErr_Occurred": ("obj", ()),
    "PyErr_Fetch": ("void", ("ptr", "ptr", "ptr")),
    "PyErr_Restore": ("void", ("obj", "obj", "obj")),
    "PyErr_NormalizeException": ("void", ("ptr", "ptr", "ptr")),
    "PyErr_GivenExceptionMatches": ("i32", ("obj", "obj")),
    "PyErr_GetHandledException": ("obj", ()),
    "PyException_GetTraceback": ("obj", ("obj",)),
    "PyException_SetTraceback": ("i32", ("obj", "obj")),
    "PyException_SetCause": ("void", ("obj", "obj")),
    "_PyObject_LookupSpecial": ("obj", ("obj", "obj")),
    "PyObject_CallNoArgs": ("obj", ("obj",)),
    "PyObject_Type": ("obj", ("obj",)),
    "PyCell_New": ("obj", ("obj",)),
    "PyObject_Call": ("obj", ("obj", "obj", "obj")),
    "PyObject_CallObject": ("obj", ("obj", "obj")),
    "PyDict_Update": ("i32", ("obj", "obj")),
    "PyDict_Contains": ("i32", ("obj", "obj")),
    "PyDict_DelItem": ("i32", ("obj", "obj")),
    "PySequence_GetSlice": ("obj", ("obj", "i64", "i64")),
    "PySequence_List": ("obj", ("obj",)),
    "_PyObject_LookupAttr": ("i32", ("obj", "obj", "ptr")),
    "PyObject_IsInstance": ("i32", ("obj", "obj")),
    "PyImport_ImportModuleLevelObject": ("obj", ("obj", "obj", "obj", "obj", "i32")),
    "_PyDict_MergeEx": ("i32", ("obj", "obj", "i32")),
    "PyErr_ExceptionMatches": ("i32", ("obj",)),
    "_PyObject_FunctionStr": ("obj", ("obj",)),
    "_PyUnicode_EQ": ("i32", ("obj", "obj")),
    "PyFunction_SetClosure": ("i32", ("obj", "obj")),
    "PyErr_CheckSignals": ("i32", ()),
    "Py_MakePendingCalls": ("i32", ()),
    "PyThreadState_Get": ("ptr", ()),
    "PyThreadState_EnterTracing": ("void", ("ptr",)),
    "PyThreadState_LeaveTracing": ("void", ("ptr",)),
    "PyEval_SaveThread": ("ptr", ()),
    "PyEval_RestoreThread": ("void", ("ptr",)),
    "PyFrame_New": ("obj", ("ptr", "obj", "obj", "obj")),
    "PyEval_GetFrame": ("obj", ()),  # borrowed
    "PyFrame_GetBack": ("obj", ("obj",)),
    "PyEval_EvalFrameEx": ("obj", ("obj", "i32")),  # 1: raise the exception set at its instruction
    "PyTraceBack_Here": ("i32", ("obj",)),
    "_Py_CheckRecursiveCall": ("i32", ("ptr", "ptr")),
}

# Binary-operator C-API entry points, by BINARY_OP's oparg name (opcode._nb_ops).
NUMBER_BINARY = {
    "+": "PyNumber_Add", "-": "PyNumber_Subtract", "*": "PyNumber_Multiply",
    "/": "PyNumber_TrueDivide", "//": "PyNumber_FloorDivide", "%": "PyNumber_Remainder",
    "<<": "PyNumber_Lshift", ">>": "PyNumber_Rshift", "&": "PyNumber_And",
    "|": "PyNumber_Or", "^": "PyNumber_Xor", "@": "PyNumber_MatrixMultiply",
    "+=": "PyNumber_InPlaceAdd", "-=": "PyNumber_InPlaceSubtract",
    "*=": "PyNumber_InPlaceMultiply", "/=": "PyNumber_InPlaceTrueDivide",
    "//=": "PyNumber_InPlaceFloorDivide", "%=": "PyNumber_InPlaceRemainder",
    "<<=": "PyNumber_InPlaceLshift", ">>=": "PyNumber_InPlaceRshift",
    "&=": "PyNumber_InPlaceAnd", "|=": "PyNumber_InPlaceOr", "^=": "PyNumber_InPlaceXor",
    "@=": "PyNumber_InPlaceMatrixMultiply",
}
for _name in NUMBER_BINARY.values():
    C_API[_name] = ("obj", ("obj", "obj"))

# Rich-comparison codes (Py_LT ...) in the order of opcode.cmp_op.
RICH_COMPARE = {"<": 0, "<=": 1, "==": 2, "!=": 3, ">": 4, ">=": 5}

# libm functions that LLVM has no intrinsic for.
LIBM: dict[str, tuple[str, tuple[str, ...]]] = {
    "tan": ("f64", ("f64",)), "atan2": ("f64", ("f64", "f64")),
    "hypot": ("f64", ("f64", "f64")), "log10": ("f64", ("f64",)),
    "fmod": ("f64", ("f64", "f64")), "pow": ("f64", ("f64", "f64")),
    "sin": ("f64", ("f64",)), "cos": ("f64", ("f64",)), "exp": ("f64", ("f64",)),
    "log": ("f64", ("f64",)), "round": ("f64", ("f64",)),
}


_PROCESS = ctypes.CDLL(None)  # the libraries loaded in the process (libm)


def symbol_address(name: str) -> int:
    """The address of `name`, a C function of C_API or LIBM."""
    library = ctypes.pythonapi if name in C_API else _PROCESS
    return ctypes.cast(getattr(library, name), ctypes.c_void_p).value  # type: ignore[return-value]


def address_of(obj: object) -> int:
    """The PyObject* of obj (CPython's id)."""
    return id(obj)


def memory(address: int, ctype: type = ctypes.c_void_p) -> ctypes._Pointer:
    """The `ctype` values from `address` on, to read and write by index.
    A cast, not `ctype.from_address`: that raises an audit event
    ("ctypes.cdata"), which a program's audit hook would see, or refuse,
    in the middle of psyco's work."""
    return ctypes.cast(address, ctypes.POINTER(ctype))


def _word(address: int, ctype: type = ctypes.c_void_p) -> int:
    return memory(address, ctype)[0] or 0


def class_assignable(cls: type) -> bool:
    """Whether an instance of `cls` can be given another class
    (`obj.__class__ = C`): one of a mutable class, or a module."""
    return not cls.__flags__ & TPFLAGS_IMMUTABLETYPE or cls is types.ModuleType


def class_setter_slot() -> int:
    """Where the function `obj.__class__ = C` calls is: the setter of
    object's `__class__` descriptor, which every class inherits."""
    return _word(id(object.__dict__["__class__"]) + GETSET_DESCR_DEF) + GETSET_DEF_SET


_type_lookup = ctypes.pythonapi._PyType_Lookup
_type_lookup.restype, _type_lookup.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.py_object]
_GENERIC_GETATTR = ctypes.cast(ctypes.pythonapi.PyObject_GenericGetAttr, ctypes.c_void_p).value
_GENERIC_SETATTR = ctypes.cast(ctypes.pythonapi.PyObject_GenericSetAttr, ctypes.c_void_p).value


def _lookup(cls: type, name: str) -> tuple[int, int]:
    """(address of what `name` finds on the class through its MRO, 0 if
    nothing; the type's version tag after the lookup, which assigns one if
    it can: 0 if not)."""
    found = _type_lookup(cls, name) or 0
    return found, _word(id(cls) + TYPE_VERSION_TAG, ctypes.c_uint)


def _shared_keys_entries(cls: type) -> int:
    keys = _word(id(cls) + HEAPTYPE_CACHED_KEYS)
    return _word(keys + DICTKEYS_NENTRIES, ctypes.c_ssize_t) if keys else -1


def _class_function(cls: type, name: str) -> tuple[int, types.FunctionType] | None:
    """(type version tag, function) when `name` found on class `cls` (an
    exact type) is a Python function; valid while the tag is unchanged."""
    found, tag = _lookup(cls, name)
    if not found or not tag:
        return None
    function = ctypes.cast(found, ctypes.py_object).value
    return (tag, function) if type(function) is types.FunctionType else None


def method_slot(cls: type, name: str) -> tuple[int, types.FunctionType, int | None] | None:
    """(type version tag, function, entries of the shared instance keys)
    when `name` looked up on an instance of exactly `cls` is the Python
    function `function` of its class, as the interpreter's LOAD_METHOD
    specializations assume: generic attribute lookup, and no instance
    attribute of that name now (entries: how many shared keys were
    checked; None: instances have no attributes of their own)."""
    if _word(id(cls) + TYPE_GETATTRO) != _GENERIC_GETATTR:
        return None
    found = _class_function(cls, name)
    if found is None:
        return None
    if not cls.__flags__ & TPFLAGS_MANAGED_DICT:
        return (*found, None) if cls.__dictoffset__ == 0 else None
    entries = _shared_keys_entries(cls)
    if entries < 0 or instance_attribute_index(cls, name) is not None:
        return None
    return (*found, entries)


_OBJECT_NEW = _word(id(object) + TYPE_NEW)
_OBJECT_CLASS_DESCRIPTOR = id(object.__dict__["__class__"])


def reports_its_type(cls: type) -> bool:
    """Whether `x.__class__` is `type(x)` for an instance x of exactly
    `cls`: generic attribute access, which finds object's `__class__`
    descriptor (no class of its MRO defines its own, as unittest.mock's do
    for `spec`); valid while the type's version tag is unchanged."""
    return (_word(id(cls) + TYPE_GETATTRO) == _GENERIC_GETATTR
            and _lookup(cls, "__class__")[0] == _OBJECT_CLASS_DESCRIPTOR)


def version_tag(cls: type) -> int:
    """The type's version tag now (assigning one if it has none); 0 if it
    cannot have one."""
    return _lookup(cls, "__class__")[1]


def plain_class(cls: object) -> tuple[int, types.FunctionType] | None:
    """(type version tag, __init__) when calling `cls` makes an instance
    with object.__new__ and initializes it with the Python function
    __init__: a class of the program with no metaclass and no __new__."""
    if type(cls) is not type or not cls.__flags__ & HEAPTYPE or _word(id(cls) + TYPE_NEW) != _OBJECT_NEW:
        return None
    return _class_function(cls, "__init__")


def instance_attribute_index(cls: type, name: str) -> int | None:
    """The index of `name` among the keys shared by instances of `cls`."""
    keys = _word(id(cls) + HEAPTYPE_CACHED_KEYS)
    if not keys:
        return None
    entries = keys + DICTKEYS_INDICES + (1 << _word(keys + DICTKEYS_LOG2_INDEX_BYTES, ctypes.c_uint8))
    for index in range(_word(keys + DICTKEYS_NENTRIES, ctypes.c_ssize_t)):
        key = _word(entries + DICTKEYS_ENTRY_SIZE * index)
        if key and ctypes.cast(key, ctypes.py_object).value == name:
            return index
    return None


def plain_attribute(cls: type, name: str) -> int | None:
    """The type version tag when `name` on an instance of exactly `cls` is
    the instance's own, found and set by generic attribute access, which
    then runs none of the program's code: a managed dict, no __getattr__,
    __getattribute__ or __setattr__, nothing named `name` on the class (no
    descriptor)."""
    if not _generic_attributes(cls):
        return None
    found, tag = _lookup(cls, name)
    return tag if tag and not found else None


def _generic_attributes(cls: type) -> bool:
    """Instances of `cls` keep their attributes in a managed dict, reached
    by generic attribute access (no __getattr__, __getattribute__ or
    __setattr__)."""
    return bool(cls.__flags__ & TPFLAGS_MANAGED_DICT) and _word(id(cls) + TYPE_GETATTRO) == _GENERIC_GETATTR \
        and _word(id(cls) + TYPE_SETATTRO) == _GENERIC_SETATTR


def virtual_class(cls: type) -> int | None:
    """The type version tag when an instance of `cls` may live as its
    attributes alone until something needs the object: a plain class
    (`plain_class`) whose attributes are its instances' own, set and read
    by generic attribute access, and with no finalizer."""
    plain = plain_class(cls)  # (its lookup of __init__ gives the class a version tag)
    if plain is None or hasattr(cls, "__del__") or not _generic_attributes(cls):
        return None
    return plain[0] or None


def value_attribute(cls: type, name: str) -> tuple[int, int] | None:
    """(type version tag, index in the instance's values array) when `name`
    on an instance of exactly `cls` is kept there, as the interpreter's
    LOAD_ATTR_INSTANCE_VALUE specialization assumes: a plain attribute
    (`plain_attribute`) among the keys instances share."""
    tag = plain_attribute(cls, name)
    index = instance_attribute_index(cls, name) if tag is not None else None
    return None if index is None else (tag, index)  # type: ignore[return-value]


def slot_attribute(cls: type, name: str) -> tuple[int, int] | None:
    """(type version tag, byte offset) when `name` on an instance of
    exactly `cls` is a writable __slots__ entry kept at that offset, as
    the interpreter's LOAD_ATTR_SLOT specialization assumes: generic
    attribute access and a member descriptor found on the class."""
    if (_word(id(cls) + TYPE_GETATTRO) != _GENERIC_GETATTR
            or _word(id(cls) + TYPE_SETATTRO) != _GENERIC_SETATTR):
        return None
    found, tag = _lookup(cls, name)
    if not found or not tag:
        return None
    descriptor = ctypes.cast(found, ctypes.py_object).value
    # A descriptor of another class's slot (assigned as a class attribute)
    # raises TypeError on this class's instances.
    if type(descriptor) is not types.MemberDescriptorType or not issubclass(cls, descriptor.__objclass__):
        return None
    member = _word(found + MEMBER_DESCR_MEMBER)
    if (_word(member + MEMBERDEF_TYPE, ctypes.c_int) != T_OBJECT_EX
            or _word(member + MEMBERDEF_FLAGS, ctypes.c_int) & MEMBER_READONLY):
        return None
    return tag, _word(member + MEMBERDEF_OFFSET, ctypes.c_ssize_t)


def peek_attribute(obj: object, name: str) -> object | None:
    """The instance attribute `name` of `obj` as its values array or its
    __slots__ entry holds it, read without running any code (no other
    descriptor, no __getattr__, the instance unchanged); None when it is
    not there."""
    cls = type(obj)
    slot = slot_attribute(cls, name)
    if slot is not None:
        item = _word(id(obj) + slot[1])
    elif not cls.__flags__ & TPFLAGS_MANAGED_DICT:
        return None
    else:
        values = _word(id(obj) + OBJECT_VALUES)
        index = instance_attribute_index(cls, name) if values else None
        item = _word(values + 8 * index) if index is not None else 0
    return ctypes.cast(item, ctypes.py_object).value if item else None


def type_address(tp: type) -> int:
    return id(tp)


# --- bytecode: trampolines --------------------------------------------------
_OP = opcode.opmap
CACHES = opcode._inline_cache_entries


def _unit(op: str, arg: int = 0) -> list[int]:
    """One instruction with its inline caches as a list of code units,
    after the EXTENDED_ARG prefixes an argument past 255 needs."""
    prefix = _unit("EXTENDED_ARG", arg >> 8) if arg > 0xFF else []
    code = _OP[op]
    return prefix + [code | ((arg & 0xFF) << 8)] + [0] * CACHES[code]


# The constants a trampoline appends to the original's, in this order; the
# runtime swaps the first four in place (`set_trampoline_const`).
TRAMPOLINE_CONSTS = ("native", "skip_gate", "ask", "dispatcher", "sentinel", "retry",
                     "recursion_error", "gettrace", "getprofile", "none")


def make_trampoline(code: types.CodeType, consts: dict[str, object]) -> types.CodeType:
    """A copy of `code` that first decides whether to run the original
    bytecode or to call the dispatcher.

    A stub is prepended to the original bytecode: it copies the closure's
    cells into the frame (the original's COPY_FREE_VARS), performs
    `RESUME`, then

    * if `native` is True (the code object has a native dispatcher), calls
      `dispatcher` with the arguments and returns its result, unless the
      result is `sentinel`;
    * otherwise iterates `skip_gate` once: an item means "run interpreted"
      (a count of calls left to run so, as `itertools.repeat` does); exhausted,
      it calls `ask` with the arguments, unless a tracer or profiler is set,
      and calls the dispatcher if the answer is `retry`.  A RecursionError
      raised by these calls (one frame deeper than the function's own)
      runs the function interpreted, as CPython would.

    Running interpreted, it makes the cells of the original's MAKE_CELL
    prologue and jumps past the original prologue and `RESUME`, and the
    original bytecode runs unchanged.  All 3.11 jumps are relative, so the
    shifted original keeps its meaning; the exception table is shifted and
    the stub has no source position except its RESUME's and its call of
    `ask` (the `def` line),
    so the trampoline's frame is a faithful frame of `code`.  The skip gate
    lets calls that run interpreted cost a few instructions and no call,
    and needs no machine code, hence no LLVM, until a version is compiled.
    """
    values = dict(consts, recursion_error=RecursionError, gettrace=sys.gettrace, getprofile=sys.getprofile, none=None)
    appended = tuple(values[name] for name in TRAMPOLINE_CONSTS)
    stub, resume_at, (ask_at, asked_at), stub_handlers = _stub(code, len(code.co_consts))
    shift = len(stub)
    handlers = list(stub_handlers) + [
        Handler(h.start + shift, h.end + shift, h.target + shift, h.depth, h.lasti)
        for h in parse_exception_table(code.co_exceptiontable)
    ]
    # The RESUME and the call of `ask` are at the `def` line (where a signal
    # handler's exception deferred while psyco answered is raised); the rest
    # has no location, and a tracer sees no line of the stub.
    linetable = (_no_location_entries(resume_at) + _def_line_entries(1) + _no_location_entries(ask_at - resume_at - 1)
                 + _def_line_entries(asked_at - ask_at) + _no_location_entries(shift - asked_at))
    return code.replace(
        co_code=b"".join(u.to_bytes(2, "little") for u in stub) + code.co_code,
        co_consts=code.co_consts + appended,
        co_linetable=linetable + code.co_linetable,
        co_exceptiontable=encode_exception_table(handlers),
        # the stub's deepest stack: NULL, a callable, the arguments; or the
        # exception handler's previous exception, exception, its copy, class
        co_stacksize=max(code.co_stacksize, argument_count(code) + 2, 4),
    )


def set_trampoline_const(trampoline: types.CodeType, name: str, value: object) -> None:
    """Swap one of the constants `make_trampoline` appended (`native`, the
    skip gate, `ask`, the dispatcher): every frame of the trampoline loads the new one from
    its next call on."""
    replace_tuple_item(trampoline.co_consts, _trampoline_const_index(trampoline, name), value)


def trampoline_const(trampoline: types.CodeType, name: str) -> object:
    """One of the constants `make_trampoline` appended."""
    return trampoline.co_consts[_trampoline_const_index(trampoline, name)]


def _trampoline_const_index(trampoline: types.CodeType, name: str) -> int:
    return len(trampoline.co_consts) - len(TRAMPOLINE_CONSTS) + TRAMPOLINE_CONSTS.index(name)


def _stub(code: types.CodeType,
          first_const: int) -> tuple[tuple[int, ...], int, tuple[int, int], tuple[Handler, ...]]:
    """The trampoline's stub as code units, the index of its RESUME, the
    units of its call of `ask` and its exception-table entries."""
    return _assemble_stub(tuple(_prologue(code)), argument_count(code), first_const)


@functools.lru_cache(maxsize=256)
def _assemble_stub(prologue: tuple[tuple[str, int], ...], nargs: int,
                   first_const: int) -> tuple[tuple[int, ...], int, tuple[int, int], tuple[Handler, ...]]:
    """The stub for a code object with this prologue, argument count and
    number of constants (many functions share one; the compiler asks for
    it at every frame sync).  Assembled from labelled instructions; jump
    arguments count code units from the jump's end, and EXTENDED_ARG
    prefixes (many arguments) can lengthen the stub: placed until stable."""
    const = {name: first_const + i for i, name in enumerate(TRAMPOLINE_CONSTS)}

    def call(callable_const: str, n: int) -> list[tuple]:
        loads = [("LOAD_FAST", i) for i in range(n)]
        return [("PUSH_NULL", 0), ("LOAD_CONST", const[callable_const]), *loads, ("PRECALL", n), ("CALL", n)]

    def tracer_set(getter: str) -> list[tuple]:
        return [*call(getter, 0), ("LOAD_CONST", const["none"]), ("IS_OP", 1),
                ("POP_JUMP_FORWARD_IF_TRUE", "interpret")]

    program: list[tuple] = [(op, arg) for op, arg in prologue if op == "COPY_FREE_VARS"]
    program += [
        ("label", "resume"), ("RESUME", 0),
        ("LOAD_CONST", const["native"]), ("POP_JUMP_FORWARD_IF_TRUE", "dispatch"),
        ("LOAD_CONST", const["skip_gate"]), ("FOR_ITER", "trace_check"), ("POP_TOP", 0), ("POP_TOP", 0),
        ("JUMP_FORWARD", "interpret"),
        ("label", "trace_check"), *tracer_set("gettrace"), *tracer_set("getprofile"),
        ("label", "ask"), *call("ask", nargs), ("label", "asked"),
        ("LOAD_CONST", const["retry"]), ("IS_OP", 0), ("POP_JUMP_FORWARD_IF_FALSE", "interpret"),
        ("label", "dispatch"), *call("dispatcher", nargs),
        ("COPY", 1), ("LOAD_CONST", const["sentinel"]), ("IS_OP", 0), ("POP_JUMP_FORWARD_IF_TRUE", "fallback"),
        ("RETURN_VALUE", 0),
        ("label", "handler"), ("PUSH_EXC_INFO", 0), ("LOAD_CONST", const["recursion_error"]),
        ("CHECK_EXC_MATCH", 0), ("POP_JUMP_FORWARD_IF_FALSE", "reraise"), ("POP_TOP", 0), ("label", "handled"),
        ("POP_EXCEPT", 0), ("JUMP_FORWARD", "interpret"),
        ("label", "reraise"), ("RERAISE", 0), ("label", "cleanup"),
        ("COPY", 3), ("POP_EXCEPT", 0), ("RERAISE", 1),
        ("label", "fallback"), ("POP_TOP", 0),
        ("label", "interpret"), *[(op, arg) for op, arg in prologue if op == "MAKE_CELL"],
        # Past the original RESUME: a tracer must see one 'call' event.
        ("JUMP_FORWARD", "original"),
    ]
    labels: dict[str, int] = {}
    while True:
        units: list[int] = []
        placed: dict[str, int] = {}
        for op, arg in program:
            if op == "label":
                placed[arg] = len(units)
                continue
            if isinstance(arg, str):  # a forward jump: units from this instruction's end
                arg = max(labels.get(arg, 0) - (len(units) + len(_unit(op, 0))), 0)
            units += _unit(op, arg)
        placed["original"] = len(units) + len(prologue) + len(_unit("RESUME"))
        if placed == labels:
            break
        labels = placed
    handlers = (
        Handler(labels["trace_check"], labels["asked"], labels["handler"], 0, False),
        Handler(labels["handler"], labels["handled"], labels["cleanup"], 1, True),
        Handler(labels["reraise"], labels["cleanup"], labels["cleanup"], 1, True),
    )
    return tuple(units), labels["resume"], (labels["ask"], labels["asked"]), handlers


def _prologue(code: types.CodeType) -> list[tuple[str, int]]:
    """The instructions the 3.11 compiler puts before RESUME (MAKE_CELL for
    each cell, COPY_FREE_VARS for a closure), one code unit each."""
    out = []
    for unit in range(0, len(code.co_code), 2):
        op, arg = code.co_code[unit], code.co_code[unit + 1]
        if op == _OP["RESUME"]:
            break
        out.append((opcode.opname[op], arg))
    return out


def trampoline_shift(code: types.CodeType) -> int:
    """Code units the trampoline's stub adds in front of `code`."""
    return len(_stub(code, len(code.co_consts))[0])


def nlocalsplus(code: types.CodeType) -> int:
    """Slots before the value stack in a frame: locals, cells that are not
    arguments, free variables."""
    return code.co_nlocals + len(set(code.co_cellvars) - set(code.co_varnames)) + len(code.co_freevars)


# Location-table entry kind 13 ("line, no column"), 1 unit, line delta 0:
# the stub's RESUME is on the `def` line, like the original's.
def _def_line_entries(n_units: int) -> bytes:
    # Location-table entries kind 13 ("no column"), a line delta of 0 (the
    # first line, co_firstlineno), at most 8 units each.
    return _location_entries(n_units, 13, b"\x00")


def _no_location_entries(n_units: int) -> bytes:
    # Location-table entry kind 15 ("no location"), at most 8 units each.
    return _location_entries(n_units, 15, b"")


def _location_entries(n_units: int, kind: int, payload: bytes) -> bytes:
    out = bytearray()
    while n_units > 0:
        chunk = min(8, n_units)
        out.append(0x80 | (kind << 3) | (chunk - 1))
        out += payload
        n_units -= chunk
    return bytes(out)


def trampoline_supported(code: types.CodeType) -> str | None:
    """Why `code` cannot get a trampoline, or None."""
    if code.co_flags & (0x20 | 0x80 | 0x100 | 0x200):
        return "generator, coroutine or async generator"
    if any(op not in ("MAKE_CELL", "COPY_FREE_VARS") for op, _ in _prologue(code)):
        return "unexpected instructions before RESUME"
    if argument_count(code) > 0xF0:
        return "too many arguments"
    return None


_thread_state = ctypes.pythonapi.PyThreadState_Get
_thread_state.restype = ctypes.c_void_p
_thread_state.argtypes = []


def recursion_headroom() -> int:
    """Frames the running thread can still enter before RecursionError."""
    return memory(_thread_state() + TSTATE_RECURSION_REMAINING, ctypes.c_int)[0]


def function_of_frame(frame: types.FrameType) -> types.FunctionType:
    """The function object a frame is running (3.11 frames do not expose it)."""
    iframe = _word(id(frame) + FRAME_F_FRAME)
    func = _word(iframe + IFRAME_FUNC)
    return ctypes.cast(func, ctypes.py_object).value


# Looked up once: the first lookup of a name on ctypes.pythonapi runs ctypes'
# Python code, which calls builtins the program may have deleted.
_incref, _decref = ctypes.pythonapi.Py_IncRef, ctypes.pythonapi.Py_DecRef
_current_frame = ctypes.pythonapi.PyEval_GetFrame
# A borrowed reference: as a py_object result ctypes would take it as the
# caller's own (and drop it: the frame object freed while its frame runs).
_current_frame.restype = ctypes.c_void_p


@functools.cache
def _sigint_exit_flag() -> ctypes.c_int | None:
    """python's flag to die of SIGINT once finalized, after an uncaught
    KeyboardInterrupt (None if this interpreter does not export it)."""
    try:
        return ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt")
    except ValueError:
        return None


def die_of_sigint_after_finalizing() -> bool:
    """Set the flag with which python, after an uncaught KeyboardInterrupt,
    finalizes (threads joined, exit handlers, modules torn down, files
    flushed) and then kills itself with SIGINT; False if this interpreter
    does not export it."""
    flag = _sigint_exit_flag()
    if flag is None:
        return False
    flag.value = 1
    return True


def dies_of_sigint_after_finalizing() -> bool:
    """Whether that flag is set.  python clears it whenever it runs a string
    of code (exec, eval): psyco's own work does, importing its later stages."""
    flag = _sigint_exit_flag()
    return flag is not None and flag.value == 1


def calling_frame() -> types.FrameType:
    """The frame of the caller of the function calling this, as
    sys._getframe(1) there, without sys._getframe's audit event: a
    program's audit hook that psyco took over would run psyco's code that
    asks again, endlessly."""
    return ctypes.cast(_current_frame(), ctypes.py_object).value.f_back.f_back


def replace_tuple_item(tup: tuple, index: int, value: object) -> None:
    """Swap one item of an existing tuple in place (used on co_consts).

    Tuples are immutable to Python code; the interpreter reads co_consts
    items at each LOAD_CONST, so swapping a nested code object here makes
    later MAKE_FUNCTIONs create functions with the new code.
    """
    slot = memory(id(tup) + TUPLE_ITEMS + POINTER_SIZE * index)
    _incref(ctypes.py_object(value))
    old = tup[index]
    slot[0] = id(value)
    _decref(ctypes.py_object(old))
