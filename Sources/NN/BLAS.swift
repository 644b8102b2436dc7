import COpenBLAS

/// C = alpha * op(A) * op(B) + beta * C, row-major. A is M x K after op, B is K x N after op.
@inline(__always)
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
