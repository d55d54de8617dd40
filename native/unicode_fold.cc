// Text folding for the hashing encoder. The fold itself is data (unicode_fold_table.inc, generated
// by scripts/gen-unicode-fold.mjs from Node's ICU); this file is the UTF-8 decoder, the ASCII fast
// path and the table look-ups. Nothing here depends on the locale or allocates, apart from growing
// the caller's output vector.
#include "unicode_fold.h"

namespace routecore {
namespace {

enum : uint8_t { kFoldSpace, kFoldDrop, kFoldDelta, kFoldSame, kFoldSeq };

struct FoldEntry {
  uint32_t lo;
  uint32_t hi;
  int32_t arg;
  uint8_t kind;
  uint8_t step;  // 1 or 2; with 2, code points at odd offsets from lo are unchanged
  uint16_t len;  // kFoldSeq only
};

struct CpRange {
  uint32_t lo;
  uint32_t hi;
};

#include "unicode_fold_table.inc"

constexpr uint32_t kReplacement = 0xFFFD;

// Returns the entry that folds `cp`, or nullptr when `cp` folds to itself.
inline const FoldEntry* findFold(uint32_t cp) {
  const uint32_t block = cp >> kFoldBlockShift;
  size_t lo, hi;
  if (block < kFoldIndexedBlocks) {
    lo = kFoldBlock[block];
    hi = kFoldBlock[block + 1];
  } else {
    lo = kFoldBlock[kFoldIndexedBlocks];
    hi = kFoldCount;
  }
  const size_t first = lo;
  // Upper bound on lo: afterwards lo is one past the last entry starting at or before cp.
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (kFold[mid].lo <= cp) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == first) return nullptr;
  const FoldEntry* e = &kFold[lo - 1];
  if (cp > e->hi || ((cp - e->lo) & (e->step - 1u)) != 0) return nullptr;
  return e;
}

template <size_t N>
inline bool inRanges(const CpRange (&ranges)[N], uint32_t cp) {
  size_t lo = 0, hi = N;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (ranges[mid].lo <= cp) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo > 0 && cp <= ranges[lo - 1].hi;
}

// Decodes one non-ASCII sequence starting at p (p < end, *p >= 0x80) and advances p. An ill-formed
// sequence yields U+FFFD and consumes only its maximal subpart (Unicode 3.9 "best practice", the
// WHATWG decoder's behaviour): the offending byte is left to start the next sequence, so one bad
// byte never swallows the valid text after it, and the result matches JS's TextDecoder.
inline uint32_t decodeMultiByte(const uint8_t*& p, const uint8_t* end) {
  const uint32_t b0 = p[0];
  const size_t avail = static_cast<size_t>(end - p);
  if (b0 < 0xC2 || b0 > 0xF4) {  // continuation byte, overlong lead C0/C1, or beyond U+10FFFF
    ++p;
    return kReplacement;
  }
  if (b0 < 0xE0) {
    if (avail >= 2 && (p[1] & 0xC0) == 0x80) {
      const uint32_t cp = ((b0 & 0x1F) << 6) | (p[1] & 0x3F);
      p += 2;
      return cp;
    }
    ++p;
    return kReplacement;
  }
  // The second byte's range is what rules out overlongs (E0, F0), surrogates (ED) and code points
  // above U+10FFFF (F4); later bytes are plain continuation bytes.
  uint32_t lo2 = 0x80, hi2 = 0xBF;
  if (b0 == 0xE0) {
    lo2 = 0xA0;
  } else if (b0 == 0xED) {
    hi2 = 0x9F;
  } else if (b0 == 0xF0) {
    lo2 = 0x90;
  } else if (b0 == 0xF4) {
    hi2 = 0x8F;
  }
  if (avail < 2 || p[1] < lo2 || p[1] > hi2) {
    ++p;
    return kReplacement;
  }
  if (avail < 3 || (p[2] & 0xC0) != 0x80) {
    p += 2;
    return kReplacement;
  }
  if (b0 < 0xF0) {
    const uint32_t cp = ((b0 & 0x0F) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3F);
    p += 3;
    return cp;
  }
  if (avail < 4 || (p[3] & 0xC0) != 0x80) {
    p += 3;
    return kReplacement;
  }
  const uint32_t cp = ((b0 & 0x07) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3F);
  p += 4;
  return cp;
}

}  // namespace

void foldUtf8(const char* text, size_t len, std::vector<uint32_t>& out) {
  // Folded ASCII is one code point per byte, so this makes the common case a single growth; it
  // grows geometrically so a caller appending many texts to one vector stays amortised O(n).
  const size_t want = out.size() + len;
  if (out.capacity() < want) out.reserve(want > 2 * out.capacity() ? want : 2 * out.capacity());

  const uint8_t* p = reinterpret_cast<const uint8_t*>(text);
  const uint8_t* const end = p + len;
  // `started`: something was emitted by this call, so a later whitespace run is not leading.
  // `pending`: a whitespace run was seen after output; written only once more output follows,
  // which is what drops trailing whitespace.
  bool started = false;
  bool pending = false;
  auto emit = [&](uint32_t cp) {
    if (pending) {
      out.push_back(0x20);
      pending = false;
    }
    out.push_back(cp);
    started = true;
  };

  while (p < end) {
    const uint32_t c = *p;
    if (c < 0x80) {
      ++p;
      if (c - 0x21u < 0x5Eu) {  // printable, not space
        emit(c - 'A' < 26u ? c + 0x20 : c);
      } else if (c == 0x20 || c - 0x09u < 5u) {  // \t \n \v \f \r
        pending = started;
      }
      // Remaining ASCII controls are dropped.
      continue;
    }
    const uint32_t cp = decodeMultiByte(p, end);
    if (cp <= kFoldDenseHi) {
      const uint32_t f = kFoldDense[cp - kFoldDenseLo];
      if (f == 0x20) {
        pending = started;
        continue;
      }
      if (f != kFoldDenseSeq) {
        if (f != 0) emit(f);
        continue;
      }
    }
    const FoldEntry* e = findFold(cp);
    if (e == nullptr) {
      emit(cp);
      continue;
    }
    switch (e->kind) {
      case kFoldSpace:
        pending = started;
        break;
      case kFoldDrop:
        break;
      case kFoldDelta:
        emit(cp + static_cast<uint32_t>(e->arg));
        break;
      case kFoldSame:
        emit(static_cast<uint32_t>(e->arg));
        break;
      default:  // kFoldSeq; the generator guarantees no whitespace or dropped code points inside
        for (uint32_t i = 0; i < e->len; ++i) emit(kFoldPool[static_cast<uint32_t>(e->arg) + i]);
        break;
    }
  }
}

void decodeUtf8(const char* text, size_t len, std::vector<uint32_t>& out) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(text);
  const uint8_t* end = p + len;
  out.reserve(out.size() + len);
  while (p < end) {
    if (*p < 0x80)
      out.push_back(*p++);
    else
      out.push_back(decodeMultiByte(p, end));
  }
}

void appendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool isWordChar(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) - 'a' < 26u || cp - '0' < 10u || cp == '_';
  return inRanges(kWordRanges, cp);
}

bool isStandaloneWordChar(uint32_t cp) {
  if (cp < kStandaloneRanges[0].lo) return false;
  return inRanges(kStandaloneRanges, cp);
}

}  // namespace routecore
